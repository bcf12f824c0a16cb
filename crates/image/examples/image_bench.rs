//! Image benchmark helper, driven by bench/images.sh.
//!
//!   image_bench build <archive-out> <layer.tar>...     a docker-archive of those layers
//!   image_bench load-save <archive> <data-root> <out>  load into a fresh store, save it back;
//!                                                      prints "load <secs>" and "save <secs>"

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use berth_image::archive::{self, ArchiveFormat};
use berth_image::config::now_rfc3339;
use berth_image::{History, ImageConfig, ImageStore, Reference, RootFs};
use berth_storage::layer::LayerStore;

fn open(data_root: &Path) -> ImageStore {
    let driver = berth_storage::select::open(Some("overlay"), &data_root.join("storage"))
        .expect("overlay driver");
    let layers =
        Arc::new(LayerStore::open(&data_root.join("layers"), driver).expect("layer store"));
    ImageStore::open(data_root, layers).expect("image store")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("build") if args.len() >= 3 => {
            let scratch = tempfile::Builder::new()
                .prefix("berth-bench-build-")
                .tempdir_in("/var/tmp")
                .unwrap();
            let store = open(scratch.path());
            let mut parent = None;
            let mut diff_ids = Vec::new();
            for tar in &args[2..] {
                let layer = store
                    .register_layer(parent.as_ref(), std::fs::File::open(tar).unwrap())
                    .unwrap();
                diff_ids.push(layer.diff_id.to_string());
                parent = Some(layer.chain_id);
            }
            let config = ImageConfig {
                architecture: berth_image::ops::host_architecture().into(),
                os: "linux".into(),
                created: Some(now_rfc3339()),
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: diff_ids.clone(),
                },
                history: diff_ids
                    .iter()
                    .map(|_| History {
                        created_by: Some("bench layer".into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let id = store.create(&config.to_bytes(), None).unwrap();
            store
                .tag(
                    &id,
                    &Reference::parse_tagged("berth-bench/debian:minbase").unwrap(),
                )
                .unwrap();
            let out = std::fs::File::create(&args[1]).unwrap();
            archive::save(
                &store,
                &["berth-bench/debian:minbase".to_string()],
                ArchiveFormat::Docker,
                out,
            )
            .unwrap();
            store.layers().driver().cleanup().unwrap();
        }
        Some("load-save") if args.len() == 4 => {
            let store = open(Path::new(&args[2]));
            let t = Instant::now();
            archive::load(
                &store,
                std::io::BufReader::new(std::fs::File::open(&args[1]).unwrap()),
            )
            .unwrap();
            println!("load {:.3}", t.elapsed().as_secs_f64());
            let t = Instant::now();
            let out = std::io::BufWriter::new(std::fs::File::create(&args[3]).unwrap());
            archive::save(
                &store,
                &["berth-bench/debian:minbase".to_string()],
                ArchiveFormat::Docker,
                out,
            )
            .unwrap();
            println!("save {:.3}", t.elapsed().as_secs_f64());
            store.layers().driver().cleanup().unwrap();
        }
        _ => {
            eprintln!("usage: image_bench build <archive-out> <layer.tar>... | load-save <archive> <data-root> <out>");
            std::process::exit(2);
        }
    }
}
