//! Services: steps that reach a busybox `httpd` by alias, share one instance, wait for a
//! service that never opens its port, and a service returned for `tanto call ... up`.

use tanto_sdk::{Container, Result, Service, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

/// An `httpd` on port 80 serving `page` as `/index.html`, and as `/id` an id it draws
/// when it starts, so that steps can tell instances apart.
fn web(page: &str) -> Service {
    busybox()
        .with_new_file("/www/index.html", page)
        .with_exposed_port(80)
        .as_service_with_args(["sh", "-c", "cat /proc/sys/kernel/random/uuid > /www/id && exec httpd -f -p 80 -h /www"])
}

#[derive(Default)]
pub struct Services;

#[tanto_sdk::module]
impl Services {
    /// Reads `page` from a web service bound as `web`.
    pub fn fetch(&self, page: String) -> Result<String> {
        busybox()
            .with_service_binding("web", &web(&page))
            .with_exec(["wget", "-qO-", "http://web/index.html"])
            .stdout()
    }

    /// Two steps binding the same service at the same time, under two aliases: the ids
    /// of the instances each one saw, one line each.
    pub fn shared(&self, page: String) -> Result<String> {
        let service = web(&page);
        let first = busybox()
            .with_service_binding("web", &service)
            .with_exec(["sh", "-c", "wget -qO- http://web/id; sleep 2"]);
        let second = busybox()
            .with_service_binding("site", &service)
            .with_exec(["sh", "-c", "wget -qO- http://site/id; sleep 2"]);
        dag().sync_all([&first, &second])?;
        Ok(format!("{}{}", first.stdout()?, second.stdout()?))
    }

    /// A step reaching the service by its hostname, and the endpoint it reports.
    pub fn by_hostname(&self, page: String) -> Result<String> {
        let service = web(&page);
        let url = service.endpoint_url(80, "http")?;
        let hostname = service.hostname()?;
        let body = busybox()
            .with_service_binding("web", &service)
            .with_exec(["wget", "-qO-", &format!("{url}/index.html")])
            .stdout()?;
        Ok(format!("{hostname}\n{url}\n{body}"))
    }

    /// A service started by hand, used, and stopped.
    pub fn started(&self, page: String) -> Result<String> {
        let service = web(&page);
        service.start()?;
        let body = busybox()
            .with_service_binding("web", &service)
            .with_exec(["wget", "-qO-", "http://web/index.html"])
            .stdout()?;
        service.stop()?;
        Ok(body)
    }

    /// A step bound to a service whose port never opens.
    pub fn never_ready(&self) -> Result<String> {
        let service = busybox()
            .with_exposed_port(8080)
            .as_service_with_args(["sh", "-c", "echo warming up; echo port 8080 stays closed >&2; sleep 600"]);
        busybox()
            .with_service_binding("dead", &service)
            .with_exec(["echo", "reached"])
            .stdout()
    }

    /// A step that holds its bound service for `seconds` (for Ctrl-C).
    pub fn hold(&self, page: String, seconds: i64) -> Result<String> {
        busybox()
            .with_service_binding("web", &web(&page))
            .with_exec(["sh", "-c", &format!("wget -qO- http://web/index.html && sleep {seconds}")])
            .stdout()
    }

    /// A step that prints when it started (`/proc/uptime`, the clock every container of
    /// the machine shares) and then the page of the service it binds: for
    /// benches/services.sh.
    pub fn timed(&self, page: String) -> Result<String> {
        busybox()
            .with_service_binding("web", &web(&page))
            .with_exec(["sh", "-c", "cut -d' ' -f1 /proc/uptime; wget -qO- http://web/index.html"])
            .stdout()
    }

    /// A busybox container with the web service bound as `web`, for `tanto call client
    /// --page=... terminal`: a shell in it reaches the service.
    pub fn client(&self, page: String) -> Container {
        busybox().with_service_binding("web", &web(&page))
    }

    /// The web service itself, for `tanto call web --page=... up`.
    pub fn web(&self, page: String) -> Service {
        web(&page)
    }
}
