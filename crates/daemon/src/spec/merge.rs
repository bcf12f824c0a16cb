//! Docker's create-time merge of the image's runtime config into the request.

use bollard_stubs::models::ContainerCreateBody;

use super::SpecError;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// Docker's create-time merge (daemon/commit.go `merge`) of the image's config into the request,
/// then the checks Docker makes on the result.
pub fn merge_image_config(
    req: &mut ContainerCreateBody,
    image: Option<&berth_image::ContainerConfig>,
) -> Result<(), SpecError> {
    let default = berth_image::ContainerConfig::default();
    let image = image.unwrap_or(&default);

    if req.user.as_deref().unwrap_or("").is_empty() && !image.user.is_empty() {
        req.user = Some(image.user.clone());
    }
    // Ports and volumes: the union.
    let mut ports = req.exposed_ports.take().unwrap_or_default();
    for p in image.exposed_ports.iter().flat_map(|m| m.keys()) {
        if !ports.contains(p) {
            ports.push(p.clone());
        }
    }
    req.exposed_ports = (!ports.is_empty()).then_some(ports);
    let mut volumes = req.volumes.take().unwrap_or_default();
    for v in image.volumes.iter().flat_map(|m| m.keys()) {
        if !volumes.contains(v) {
            volumes.push(v.clone());
        }
    }
    req.volumes = (!volumes.is_empty()).then_some(volumes);

    // Env: the request's, then the image's variables the request does not set. With neither
    // setting PATH, Docker's default comes first.
    let mut env: Vec<String> = req.env.take().unwrap_or_default();
    for e in image.env.iter().flatten() {
        if !env.iter().any(|x| env_key(x) == env_key(e)) {
            env.push(e.clone());
        }
    }
    if !env.iter().any(|e| env_key(e) == "PATH") {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    req.env = Some(env);

    // Labels: the image's, unless the request sets the same key.
    let mut labels = req.labels.take().unwrap_or_default();
    for (k, v) in image.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    req.labels = Some(labels);

    // Command: a request Entrypoint replaces the image's Entrypoint and drops its Cmd; without
    // one, an empty request Cmd takes the image's. `--entrypoint ""` sends [""]: no entrypoint.
    let req_entrypoint = req.entrypoint.take();
    if req_entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            req.cmd = image.cmd.clone();
        }
        req.entrypoint = match req_entrypoint {
            None => image.entrypoint.clone(),
            Some(empty) => Some(empty),
        };
    } else {
        req.entrypoint = req_entrypoint;
    }
    if req
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.iter().all(String::is_empty))
    {
        req.entrypoint = None;
    }
    if req.cmd.as_ref().is_some_and(|c| c.is_empty()) {
        req.cmd = None;
    }
    if req.entrypoint.is_none() && req.cmd.is_none() {
        return Err(SpecError::Invalid("no command specified".into()));
    }

    if req.working_dir.as_deref().unwrap_or("").is_empty() && !image.working_dir.is_empty() {
        req.working_dir = Some(image.working_dir.clone());
    }
    if let Some(dir) = req.working_dir.as_deref().filter(|d| !d.is_empty()) {
        if !dir.starts_with('/') {
            return Err(SpecError::Invalid(format!(
                "the working directory '{dir}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    if req.stop_signal.as_deref().unwrap_or("").is_empty() {
        req.stop_signal = image.stop_signal.clone().filter(|s| !s.is_empty());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> berth_image::ContainerConfig {
        berth_image::ContainerConfig {
            env: Some(vec!["PATH=/img/bin".into(), "A=1".into()]),
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["serve".into()]),
            working_dir: "/srv".into(),
            user: "app".into(),
            ..Default::default()
        }
    }

    #[test]
    fn dockers_merge_rules() {
        let mut req = ContainerCreateBody {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            labels: Some([("l".to_string(), "req".to_string())].into()),
            exposed_ports: Some(vec!["80/tcp".into()]),
            ..Default::default()
        };
        let mut img = image();
        img.labels = Some(
            [
                ("l".to_string(), "img".to_string()),
                ("m".to_string(), "img".to_string()),
            ]
            .into(),
        );
        img.exposed_ports = Some([("443/tcp".to_string(), serde_json::json!({}))].into());
        img.stop_signal = Some("SIGQUIT".into());
        merge_image_config(&mut req, Some(&img)).unwrap();
        // The request's variables first, then the image's it does not override (as Docker).
        assert_eq!(req.env.unwrap(), ["A=2", "B=3", "PATH=/img/bin"]);
        assert_eq!(req.entrypoint.unwrap(), ["/entry"]);
        assert_eq!(req.cmd.unwrap(), ["serve"]);
        assert_eq!(req.working_dir.unwrap(), "/srv");
        assert_eq!(req.user.unwrap(), "app");
        let labels = req.labels.unwrap();
        assert_eq!((labels["l"].as_str(), labels["m"].as_str()), ("req", "img"));
        assert_eq!(req.exposed_ports.unwrap(), ["80/tcp", "443/tcp"]);
        assert_eq!(req.stop_signal.unwrap(), "SIGQUIT");
    }

    #[test]
    fn entrypoint_and_cmd() {
        let merged = |entrypoint: Option<Vec<&str>>, cmd: Option<Vec<&str>>| {
            let mut req = ContainerCreateBody {
                entrypoint: entrypoint.map(|v| v.into_iter().map(String::from).collect()),
                cmd: cmd.map(|v| v.into_iter().map(String::from).collect()),
                ..Default::default()
            };
            merge_image_config(&mut req, Some(&image())).map(|_| (req.entrypoint, req.cmd))
        };
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        // An entrypoint drops the image's cmd.
        assert_eq!(merged(Some(vec!["sh"]), None).unwrap(), (s(&["sh"]), None));
        assert_eq!(
            merged(Some(vec!["sh"]), Some(vec!["-c", "x"])).unwrap(),
            (s(&["sh"]), s(&["-c", "x"]))
        );
        // A cmd keeps the image's entrypoint.
        assert_eq!(
            merged(None, Some(vec!["x"])).unwrap(),
            (s(&["/entry"]), s(&["x"]))
        );
        // `--entrypoint ""` clears the entrypoint and the image's cmd.
        assert_eq!(
            merged(Some(vec![""]), Some(vec!["ls"])).unwrap(),
            (None, s(&["ls"]))
        );
        let e = merged(Some(vec![""]), None).unwrap_err().to_string();
        assert_eq!(e, "no command specified");
    }

    #[test]
    fn defaults_and_errors() {
        let mut req = ContainerCreateBody::default();
        assert_eq!(
            merge_image_config(&mut req, None).unwrap_err().to_string(),
            "no command specified"
        );
        let mut req = ContainerCreateBody {
            cmd: Some(vec!["true".into()]),
            ..Default::default()
        };
        merge_image_config(&mut req, None).unwrap();
        assert_eq!(req.env.unwrap(), [DEFAULT_PATH]);
        let mut req = ContainerCreateBody {
            cmd: Some(vec!["true".into()]),
            env: Some(vec!["A=1".into()]),
            working_dir: Some("rel".into()),
            ..Default::default()
        };
        let e = merge_image_config(&mut req, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "the working directory 'rel' is invalid, it needs to be an absolute path"
        );
        assert_eq!(req.env.unwrap(), [DEFAULT_PATH, "A=1"]);
    }
}
