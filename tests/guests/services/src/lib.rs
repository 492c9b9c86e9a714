//! Services: steps that reach a busybox `httpd` by alias, share one instance, wait for a
//! service that never opens its port, and a service returned for `tanto call ... up`;
//! services with mounts and secrets, with the ports of their image, and with UDP ports.

use tanto_sdk::{Container, Directory, File, NetworkProtocol, Result, Secret, Service, Sharing, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

/// An `httpd` on port 80 serving `page` as `/index.html`, and as `/id` an id it draws
/// when it starts, so that steps can tell instances apart.
fn web(page: &str) -> Service {
    busybox().with_new_file("/www/index.html", page).with_exposed_port(80).as_service_with_args([
        "sh",
        "-c",
        "cat /proc/sys/kernel/random/uuid > /www/id && exec httpd -f -p 80 -h /www",
    ])
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
        busybox().with_service_binding("dead", &service).with_exec(["echo", "reached"]).stdout()
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

    /// An `httpd` serving the mounted directory `site`, with a cache volume (filled by a
    /// step before) and a tmpfs mounted: its `mounts.txt` says what it found there.
    pub fn mounted(&self, site: Directory) -> Result<String> {
        let cache = dag().cache_volume("services-mounted");
        busybox()
            .with_mounted_cache("/cache", &cache, Sharing::Shared)
            .with_exec(["sh", "-c", "echo filled by a step > /cache/mark"])
            .sync()?;
        let service = busybox()
            .with_mounted_directory("/www", &site)
            .with_mounted_cache("/cache", &cache, Sharing::Shared)
            .with_mounted_temp("/scratch")
            .with_exposed_port(80)
            .as_service_with_args([
                "sh",
                "-c",
                "{ grep ' /scratch ' /proc/mounts | cut -d' ' -f3; cat /cache/mark; } > /www/mounts.txt; exec httpd -f -p 80 -h /www",
            ]);
        busybox()
            .with_service_binding("web", &service)
            .with_exec(["sh", "-c", "wget -qO- http://web/index.html && wget -qO- http://web/mounts.txt"])
            .stdout()
    }

    /// A service mounting a cache volume with `service_sharing` (`locked` or `shared`),
    /// bound by a step that mounts it `locked` too; with `nested`, the service is bound
    /// through a second service instead. Locked on both sides, the step could never run.
    pub fn locked_by_service(&self, service_sharing: String, nested: bool) -> Result<String> {
        let cache = dag().cache_volume("services-locked");
        let sharing = if service_sharing == "locked" { Sharing::Locked } else { Sharing::Shared };
        let holder = busybox()
            .with_mounted_cache("/cache", &cache, sharing)
            .with_exposed_port(80)
            .as_service_with_args(["sh", "-c", "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www"]);
        let bound = if nested {
            busybox().with_service_binding("inner", &holder).with_exposed_port(80).as_service_with_args([
                "sh",
                "-c",
                "mkdir -p /www && wget -qO /www/index.html http://inner/ && exec httpd -f -p 80 -h /www",
            ])
        } else {
            holder
        };
        busybox()
            .with_mounted_cache("/cache", &cache, Sharing::Locked)
            .with_service_binding("web", &bound)
            .with_exec(["wget", "-qO-", "http://web/"])
            .stdout()
    }

    /// A service with `token` as a variable and as a file, which compares them, says so
    /// over HTTP (`/check`), and prints the value to its own log; a step reads `/check`
    /// and then waits `seconds` (for the test to inspect the containers).
    pub fn secret_service(&self, token: Secret, seconds: i64) -> Result<String> {
        let service = busybox()
            .with_secret_variable("TOKEN", &token)
            .with_mounted_secret("/run/secrets/token", &token)
            .with_exposed_port(80)
            .as_service_with_args([
                "sh",
                "-c",
                "mkdir -p /www; echo \"service log: $TOKEN\"; if [ \"$TOKEN\" = \"$(cat /run/secrets/token)\" ]; then echo same > /www/check; fi; echo ${#TOKEN} >> /www/check; exec httpd -f -p 80 -h /www",
            ]);
        busybox()
            .with_service_binding("web", &service)
            .with_exec(["sh", "-c", &format!("wget -qO- http://web/check && sleep {seconds}")])
            .stdout()
    }

    /// A service of `image` with no `with-exposed-port`: its image's `EXPOSE` is what it
    /// is waited for on. Its endpoint, then what a step read from it right away.
    pub fn image_ports(&self, image: String) -> Result<String> {
        let service = dag().container().from(&image).as_service();
        let endpoint = service.endpoint()?;
        let body = busybox()
            .with_service_binding("web", &service)
            .with_exec(["wget", "-qO-", "http://web:8080/index.html"])
            .stdout()?;
        Ok(format!("{endpoint}\n{body}"))
    }

    /// `image` with a UDP port exposed beside its own, exported as an image archive.
    pub fn exported_ports(&self, image: String) -> File {
        dag()
            .container()
            .from(&image)
            .with_exposed_port_described(5353, NetworkProtocol::Udp, "dns".to_string())
            .export()
    }

    /// A step bound to a service that exposes only a UDP port, where nothing answers.
    pub fn udp_only(&self) -> Result<String> {
        let service = busybox()
            .with_exposed_port_described(5353, NetworkProtocol::Udp, "nothing listens".to_string())
            .as_service_with_args(["sleep", "600"]);
        busybox().with_service_binding("quiet", &service).with_exec(["echo", "reached"]).stdout()
    }
}
