//! Storage benchmark, driven by bench/storage.sh (which prepares a btrfs mount).
//!
//! For each driver: the time to create a container rootfs (init + rw layer, mounted) on images
//! of 1k, 10k and 50k files, and the apply throughput of a ~100 MB layer against `tar -x` of
//! the same file.
//!
//! Usage: storage_bench <scratch-dir-on-ext4-or-xfs> <scratch-dir-on-btrfs>

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_storage::drivers::{btrfs::Btrfs, overlay::Overlay, vfs::Vfs};
use berth_storage::layer::LayerStore;
use berth_storage::Driver;

fn image_tar(files: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        let content = format!("file {i}\n");
        h.set_size(content.len() as u64);
        b.append_data(&mut h, format!("d{}/f{i}", i % 100), content.as_bytes())
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// ~100 MB in 100 files of pseudo-random bytes (so no filesystem can dedupe or compress it).
fn big_tar(path: &Path) -> u64 {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut total = 0;
    for i in 0..100 {
        let mut data = vec![0u8; 1 << 20];
        for chunk in data.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, format!("blob{i}"), &data[..])
            .unwrap();
        total += data.len() as u64;
    }
    b.finish().unwrap();
    total
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn open(name: &str, home: &Path) -> Arc<dyn Driver> {
    match name {
        "overlay" => Arc::new(Overlay::new(home).unwrap()),
        "btrfs" => Arc::new(Btrfs::new(home).unwrap()),
        _ => Arc::new(Vfs::new(home).unwrap()),
    }
}

fn drop_caches() {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1");
}

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [plain, btrfs_dir] = &args[..] else {
        eprintln!("usage: storage_bench <scratch-dir> <scratch-dir-on-btrfs>");
        std::process::exit(2);
    };
    let big = plain.join("big.tar");
    let big_bytes = big_tar(&big);
    drop_caches();
    let t = Instant::now();
    let untar = plain.join("untar");
    std::fs::create_dir_all(&untar).unwrap();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&big)
        .arg("-C")
        .arg(&untar)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar -x failed");
    let _ = Command::new("sync").status();
    let tar_secs = t.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&untar).unwrap();
    let tar_mbps = big_bytes as f64 / 1e6 / tar_secs;
    println!(
        "tar -x of {} MB: {:.0} MB/s",
        big_bytes / 1_000_000,
        tar_mbps
    );

    for name in ["overlay", "btrfs", "vfs"] {
        let base = if name == "btrfs" { btrfs_dir } else { plain };
        let home = base.join(format!("bench-{name}"));
        let driver = open(name, &home.join("driver"));
        let store = LayerStore::open(&home.join("layers"), driver.clone()).unwrap();

        drop_caches();
        let t = Instant::now();
        let layer = store
            .register(None, std::fs::File::open(&big).unwrap())
            .unwrap();
        let _ = Command::new("sync").status();
        let secs = t.elapsed().as_secs_f64();
        let mbps = big_bytes as f64 / 1e6 / secs;
        println!(
            "{name}: apply {:.0} MB/s, {:.2}x tar -x",
            mbps,
            mbps / tar_mbps
        );
        store.release(&layer.chain_id).unwrap();

        for files in [1_000, 10_000, 50_000] {
            let image = store.register(None, &image_tar(files)[..]).unwrap();
            // Time creation alone: the image is on disk first, and the removals (which btrfs
            // finishes in the background) come after the timed runs.
            let _ = Command::new("sync").status();
            let ids: Vec<String> = (0..5).map(|run| format!("c{files}-{run}")).collect();
            let mut times = Vec::new();
            for id in &ids {
                let t = Instant::now();
                store
                    .create_container(id, Some(&image.chain_id), |_| Ok(()))
                    .unwrap();
                store.mount_container(id).unwrap();
                times.push(t.elapsed());
            }
            for id in &ids {
                store.unmount_container(id).unwrap();
                store.remove_container(id).unwrap();
            }
            println!(
                "{name}: container rootfs on {files} files: {:.1} ms",
                median(times).as_secs_f64() * 1e3
            );
            store.release(&image.chain_id).unwrap();
        }
        driver.cleanup().unwrap();
        std::fs::remove_dir_all(&home).unwrap();
    }
}
