//! Moving images in and out as streams: save (`GET /images/get`), load and import
//! (`POST /images/create?fromSrc=-`), and the refusal of pulls.

use std::io::Read;
use std::sync::Arc;

use berth_image::{ops, Reference};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::{blocking, tag_reference};
use crate::api::percent_decode;
use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;

/// How much of an unusable request body is still read, so that the client gets the error
/// response instead of a broken pipe while it is sending.
const DRAIN_LIMIT: u64 = 256 << 20;

fn drain(reader: &mut impl Read) {
    let _ = std::io::copy(&mut reader.take(DRAIN_LIMIT), &mut std::io::sink());
}

/// Answers `e` after reading (most of) the request body.
async fn refuse(req: Request, e: ApiError) -> ApiResult<Response> {
    let mut reader = req.into_reader();
    let _ = tokio::task::spawn_blocking(move || drain(&mut reader)).await;
    Err(e)
}

/// A `Write` into a streamed response body. The first write (or the end of the work without
/// any) releases the response headers; an error before it becomes the HTTP error instead.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    started: Option<oneshot::Sender<ApiResult<()>>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(started) = self.started.take() {
            let _ = started.send(Ok(()));
        }
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on a blocking thread, streaming what it writes as the response body (in chunks
/// of up to 256 KiB). Fails with `work`'s error if that comes before the first byte.
async fn stream_from_blocking(
    content_type: &'static str,
    work: impl FnOnce(&mut dyn std::io::Write) -> ApiResult<()> + Send + 'static,
) -> ApiResult<Response> {
    let (resp, tx) = body::stream(content_type);
    let (started_tx, started_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx,
            started: Some(started_tx),
        };
        let result = {
            let mut buffered = std::io::BufWriter::with_capacity(256 << 10, &mut out);
            work(&mut buffered).and_then(|()| {
                std::io::Write::flush(&mut buffered)
                    .map_err(|e| ApiError::Internal(format!("streaming the response: {e}")))
            })
        };
        match (out.started.take(), result) {
            (Some(started), result) => {
                let _ = started.send(result);
            }
            // The headers are gone: the client sees a truncated body.
            (None, Err(e)) => tracing::warn!("streamed response cut short: {e}"),
            (None, Ok(())) => {}
        }
    });
    started_rx.await.map_err(|_| {
        ApiError::Internal("the streaming worker stopped before answering".into())
    })??;
    Ok(resp)
}

async fn save_names(daemon: &Arc<Daemon>, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to save: name at least one image".into(),
        ));
    }
    let d = daemon.clone();
    stream_from_blocking("application/x-tar", move |out| {
        berth_image::archive::save(
            &d.images,
            &names,
            berth_image::archive::ArchiveFormat::Docker,
            out,
        )?;
        let mut saved: Vec<_> = names
            .iter()
            .filter_map(|n| d.images.resolve(n).ok())
            .collect();
        saved.sort();
        saved.dedup();
        for id in saved {
            d.image_event(&id, &id.to_string(), "save");
        }
        Ok(())
    })
    .await
}

/// `GET /images/get?names=a&names=b`: a docker-archive of those images.
pub async fn save(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    save_names(daemon, req.query_all("names").to_vec()).await
}

/// `GET /images/{name}/get`.
pub async fn save_one(daemon: &Arc<Daemon>, name: &str, _req: Request) -> ApiResult<Response> {
    save_names(daemon, vec![percent_decode(name)]).await
}

/// A JSON message stream (`{"stream": …}` or `{"status": …}` lines) sent whole.
fn json_messages(messages: impl IntoIterator<Item = Value>) -> Response {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(&body::json_line(&m));
    }
    body::bytes("application/json", out)
}

/// `POST /images/load?quiet=` with a docker-archive or OCI layout tar (plain, gzip or zstd). A
/// bad archive is a 400 before any output: the load verifies everything before it stores
/// anything, and answers once it is done.
pub async fn load(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    // Berth sends no progress bars, so `quiet` changes nothing.
    let mut reader = req.into_reader();
    let d = daemon.clone();
    let report = blocking(move || {
        let result = berth_image::archive::load(&d.images, &mut reader);
        if result.is_err() {
            drain(&mut reader);
        }
        let report = result?;
        for image in &report.images {
            d.image_event(&image.id, &image.id.to_string(), "load");
        }
        Ok(report)
    })
    .await?;
    Ok(json_messages(
        report
            .lines()
            .into_iter()
            .map(|l| json!({ "stream": format!("{l}\n") })),
    ))
}

/// What `POST /images/create` is asked to import.
#[derive(Debug)]
struct ImportRequest {
    tag: Option<Reference>,
    changes: Vec<String>,
    message: Option<String>,
}

/// Checks the parameters of `POST /images/create`: a pull (`fromImage`) or an import from a
/// URL is refused; `fromSrc=-` imports the body.
fn import_request(
    query: &dyn Fn(&str) -> Option<String>,
    changes: &[String],
) -> ApiResult<ImportRequest> {
    let get = |k: &str| query(k).filter(|v| !v.is_empty());
    if let Some(platform) = get("platform") {
        let os = platform.split('/').next().unwrap_or_default();
        if os != "linux" {
            return Err(ApiError::BadRequest(format!(
                "invalid platform {platform:?}: operating system {os:?} is not supported, only linux"
            )));
        }
    }
    if let Some(image) = get("fromImage") {
        let image = match get("tag") {
            Some(t)
                if !image.contains('@')
                    && Reference::parse(&image).is_ok_and(|r| r.tag().is_none()) =>
            {
                format!("{image}:{t}")
            }
            _ => image,
        };
        let repo = Reference::parse(&image).map_or(image.clone(), |r| r.familiar_name());
        return Err(ApiError::NotFound(format!(
            "pull access denied for {repo}, repository does not exist or may require 'docker login': berth cannot pull from registries yet"
        )));
    }
    match get("fromSrc").as_deref() {
        Some("-") => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "importing from a URL is not supported by berth: download the file and import it from stdin".into(),
            ))
        }
        None => return Err(ApiError::BadRequest("either fromImage or fromSrc must be given".into())),
    }
    let tag = match get("repo") {
        Some(repo) => Some(tag_reference(&repo, get("tag").as_deref())?),
        None => None,
    };
    Ok(ImportRequest {
        tag,
        changes: changes
            .iter()
            .filter(|c| !c.trim().is_empty())
            .cloned()
            .collect(),
        message: get("message"),
    })
}

/// `POST /images/create?fromSrc=-&repo=&tag=&message=&changes=…&platform=` with a rootfs tar
/// as body → `{"status":"sha256:…"}`. `fromImage` (a pull) is a 404 until berth has a registry
/// client.
pub async fn create(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let query = |k: &str| req.query(k).map(str::to_string);
    let import = match import_request(&query, req.query_all("changes")) {
        Ok(i) => i,
        Err(e) => return refuse(req, e).await,
    };
    let mut reader = req.into_reader();
    let d = daemon.clone();
    let id = blocking(move || {
        let imported = ops::import(
            &d.images,
            &mut reader,
            &import.changes,
            import.message.as_deref(),
        );
        if imported.is_err() {
            drain(&mut reader);
        }
        let id = imported?;
        if let Some(t) = &import.tag {
            d.images.tag(&id, t)?;
            d.image_event(&id, &t.familiar(), "tag");
        }
        d.image_event(&id, &id.to_string(), "import");
        Ok(id)
    })
    .await?;
    Ok(json_messages([json!({ "status": id.to_string() })]))
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use super::*;

    fn query<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn imports_from_stdin_only() {
        let changes = ["ENV A=1".to_string(), " ".to_string()];
        let ok = import_request(
            &query(&[
                ("fromSrc", "-"),
                ("repo", "img:v1"),
                ("message", "hi"),
                ("platform", "linux/amd64"),
            ]),
            &changes,
        )
        .unwrap();
        assert_eq!(ok.tag.unwrap().familiar(), "img:v1");
        assert_eq!(ok.changes, ["ENV A=1"]);
        assert_eq!(ok.message.as_deref(), Some("hi"));
        assert!(import_request(&query(&[("fromSrc", "-")]), &[])
            .unwrap()
            .tag
            .is_none());

        let url = import_request(&query(&[("fromSrc", "http://x/r.tar")]), &[]).unwrap_err();
        assert!(matches!(url, ApiError::BadRequest(_)) && url.to_string().contains("URL"));
        assert!(matches!(
            import_request(&query(&[]), &[]),
            Err(ApiError::BadRequest(_))
        ));
        let windows = import_request(&query(&[("fromSrc", "-"), ("platform", "windows")]), &[]);
        assert!(matches!(windows, Err(ApiError::BadRequest(_))));
        let bad_repo = import_request(&query(&[("fromSrc", "-"), ("repo", "UPPER")]), &[]);
        assert!(matches!(bad_repo, Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn pulls_are_refused_the_way_the_docker_cli_recognises() {
        let e = import_request(&query(&[("fromImage", "busybox"), ("tag", "latest")]), &[])
            .unwrap_err();
        assert!(matches!(e, ApiError::NotFound(_)));
        assert_eq!(
            e.to_string(),
            "pull access denied for busybox, repository does not exist or may require 'docker login': berth cannot pull from registries yet"
        );
        let e = import_request(&query(&[("fromImage", "docker.io/library/alpine:3")]), &[])
            .unwrap_err();
        assert!(
            e.to_string().starts_with("pull access denied for alpine,"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_start_only_with_the_first_byte() {
        let err = stream_from_blocking("application/x-tar", |_| {
            Err(ApiError::NotFound("No such image: x".into()))
        })
        .await
        .err()
        .unwrap();
        assert!(matches!(err, ApiError::NotFound(_)));

        let resp = stream_from_blocking("application/x-tar", |out| {
            out.write_all(&vec![7u8; 600 << 10])
                .map_err(ApiError::internal)?;
            Err(ApiError::Internal("late".into()))
        })
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut total = 0;
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            total += frame.unwrap().into_data().unwrap().len();
        }
        assert_eq!(total, 600 << 10, "what was written before the error");

        let empty = stream_from_blocking("application/x-tar", |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(empty.status(), StatusCode::OK);
    }
}
