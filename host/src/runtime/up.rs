//! `up` on the command line: a service run with its ports forwarded to this machine until
//! the process is interrupted (Ctrl-C, SIGTERM), whose cleanup then removes the service and
//! its network like everything else of the run.

use std::sync::Arc;

use crate::engine::{Engine, EngineError, ExposedPort, NetworkProtocol, Service};

/// One forwarded port: `host` on 127.0.0.1 to `service` of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub service: u16,
}

/// `HOST:SERVICE` items, or, with none, each TCP port of `exposed` (the service's) to
/// the same number.
pub fn forwards(exposed: &[ExposedPort], ports: &[String]) -> Result<Vec<Forward>, EngineError> {
    if ports.is_empty() {
        let exposed: Vec<Forward> = exposed
            .iter()
            .copied()
            .filter(|port| port.protocol == NetworkProtocol::Tcp)
            .filter_map(|port| u16::try_from(port.port).ok())
            .map(|port| Forward { host: port, service: port })
            .collect();
        if exposed.is_empty() {
            return Err(EngineError::InvalidArgument(
                "up: the service exposes no TCP port; name ports to forward with --ports=HOST:SERVICE".into(),
            ));
        }
        return Ok(exposed);
    }
    ports
        .iter()
        .map(|item| {
            let parse = |text: &str| text.trim().parse::<u16>().ok().filter(|port| *port != 0);
            let (host, service) = match item.split_once(':') {
                Some((host, service)) => (parse(host), parse(service)),
                None => (parse(item), parse(item)),
            };
            match (host, service) {
                (Some(host), Some(service)) => Ok(Forward { host, service }),
                _ => Err(EngineError::InvalidArgument(format!(
                    "up: `{item}` is not HOST:SERVICE (two port numbers from 1 to 65535, e.g. 8080:80)"
                ))),
            }
        })
        .collect()
}

/// Starts `service` and forwards `ports` to it until the future is dropped (the command
/// line drops it on a signal). Never returns `Ok`.
pub async fn up(pipeline: Arc<Engine>, service: Service, ports: Vec<String>) -> Result<(), EngineError> {
    let exposed = if ports.is_empty() {
        pipeline.service_ports(&service).await?
    } else {
        Vec::new()
    };
    let forwards = forwards(&exposed, &ports)?;
    // Listening first: a port taken on this machine fails before the service starts.
    let mut listeners = Vec::new();
    for forward in &forwards {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", forward.host))
            .await
            .map_err(|error| EngineError::InvalidArgument(format!("up: cannot listen on 127.0.0.1:{}: {error}", forward.host)))?;
        listeners.push((listener, *forward));
    }
    let started = pipeline.service_instance(&service).await?;
    // Shown as a step that runs until the end: what listens where, in the progress the
    // user watches.
    let shown = forwards
        .iter()
        .map(|forward| format!("127.0.0.1:{} -> {}", forward.host, forward.service))
        .collect::<Vec<_>>()
        .join(", ");
    let description = format!("up {}: {shown} (Ctrl-C stops it)", service.hostname());
    pipeline.reporter().event(crate::engine::Event::StepStarted {
        id: pipeline.reporter().next_id(),
        description: &description,
    });
    let mut accepting = tokio::task::JoinSet::new();
    for (listener, forward) in listeners {
        let pipeline = pipeline.clone();
        let started = started.clone();
        accepting.spawn(async move {
            loop {
                let (mut client, _) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "accepting a forwarded connection failed");
                        continue;
                    }
                };
                let pipeline = pipeline.clone();
                let started = started.clone();
                tokio::spawn(async move {
                    match pipeline.connect_service(&started, forward.service).await {
                        Ok(mut upstream) => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                        Err(error) => tracing::warn!(%error, port = forward.service, "the service refused a forwarded connection"),
                    }
                });
            }
        });
    }
    // The accept loops run until the process is interrupted, which drops this future
    // (and with it the set, which aborts them).
    while accepting.join_next().await.is_some() {}
    Err(EngineError::Local("the port forwards ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_host_colon_service_or_the_exposed_ones() {
        let exposed = ExposedPort::parse_all(&["80/tcp".into(), "53/udp".into()]);
        assert_eq!(forwards(&exposed, &[]).unwrap(), [Forward { host: 80, service: 80 }]);
        assert_eq!(
            forwards(&exposed, &["8080:80".into(), "9000".into()]).unwrap(),
            [Forward { host: 8080, service: 80 }, Forward { host: 9000, service: 9000 }]
        );
        let error = forwards(&exposed, &["80:http".into()]).unwrap_err().to_string();
        assert!(error.contains("`80:http` is not HOST:SERVICE"), "{error}");
        assert!(forwards(&[], &[]).unwrap_err().to_string().contains("--ports=HOST:SERVICE"));
    }
}
