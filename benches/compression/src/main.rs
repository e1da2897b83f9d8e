//! Compressed size, CPU and memory of permessage-deflate on the committed
//! corpus (`corpus/*.msgs`, made by `make-corpus`): wsbolt's compressor at
//! every level against C zlib, each message compressed in order on one
//! context (context takeover), flushed and trimmed as RFC 7692 sends it.
//!
//! CPU is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), the median of
//! several passes over each file, each pass on a fresh context. Every output is inflated again and compared with its
//! input, so a size can only be reported for a stream that decodes.

use std::time::Duration;

use flate2::{Compress, Compression, FlushCompress};
use wsbolt_proto::deflate::{Compressor, Decompressor};

#[path = "../../common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// The messages of one corpus file: each a 4-byte big-endian length, then
/// its bytes.
fn read_msgs(path: &std::path::Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut msgs = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        msgs.push(rest[4..4 + n].to_vec());
        rest = &rest[4 + n..];
    }
    msgs
}

fn thread_cpu() -> Duration {
    cpu_time::ThreadTime::now().as_duration()
}

/// One compression context, whichever library.
trait Codec {
    fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>);
}

struct Wsbolt(Compressor);

impl Codec for Wsbolt {
    fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        assert!(self.0.compress(msg, true, out));
    }
}

/// C zlib through flate2: raw deflate, sync flush, trailer removed.
struct CZlib(Compress);

impl Codec for CZlib {
    fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let before = self.0.total_in();
        loop {
            out.reserve(msg.len() / 2 + 64);
            let done = (self.0.total_in() - before) as usize;
            self.0.compress_vec(&msg[done..], out, FlushCompress::Sync).unwrap();
            if (self.0.total_in() - before) as usize == msg.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TRAILER) {
            out.truncate(out.len() - 4);
        }
    }
}

/// zlib-rs used directly, as wsbolt did up to 0.2: the memory level can be
/// chosen, unlike through flate2.
struct ZlibRs(zlib_rs::Deflate);

impl ZlibRs {
    fn new(level: u32, bits: u8, mem: u8) -> Self {
        ZlibRs(zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
            level: level as i32,
            method: zlib_rs::Method::Deflated,
            window_bits: -i32::from(bits),
            mem_level: i32::from(mem),
            strategy: zlib_rs::Strategy::Default,
        }))
    }
}

impl Codec for ZlibRs {
    fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let mut consumed = 0;
        loop {
            let room = (msg.len() - consumed) / 2 + 64;
            let at = out.len();
            out.resize(at + room, 0);
            let (i, o) = (self.0.total_in(), self.0.total_out());
            self.0
                .compress(&msg[consumed..], &mut out[at..], zlib_rs::DeflateFlush::SyncFlush)
                .unwrap();
            let produced = (self.0.total_out() - o) as usize;
            out.truncate(at + produced);
            consumed += (self.0.total_in() - i) as usize;
            if consumed == msg.len() && produced < room {
                break;
            }
        }
        if out[start..].ends_with(&TRAILER) {
            out.truncate(out.len() - 4);
        }
    }
}

struct Variant {
    name: String,
    bits: u8,
    make: Box<dyn Fn() -> Box<dyn Codec>>,
}

fn variants() -> Vec<Variant> {
    let mut v = vec![Variant {
        name: "C zlib 6 (reference)".into(),
        bits: 15,
        make: Box::new(|| Box::new(CZlib(Compress::new_with_window_bits(Compression::new(6), false, 15)))),
    }];
    v.push(Variant {
        name: "C zlib 1".into(),
        bits: 15,
        make: Box::new(|| Box::new(CZlib(Compress::new_with_window_bits(Compression::new(1), false, 15)))),
    });
    for level in 1..=9u32 {
        v.push(Variant {
            name: format!("wsbolt level {level}, memLevel 8"),
            bits: 15,
            make: Box::new(move || Box::new(Wsbolt(Compressor::new(level, 15, 8, false)))),
        });
    }
    for bits in [12u8, 13] {
        v.push(Variant {
            name: format!("C zlib 6, {bits}-bit window"),
            bits,
            make: Box::new(move || Box::new(CZlib(Compress::new_with_window_bits(Compression::new(6), false, bits)))),
        });
    }
    for (bits, mem) in [(15u8, 6u8), (13, 6), (12, 5)] {
        v.push(Variant {
            name: format!("zlib-rs 6, {bits}-bit window, memLevel {mem} (wsbolt 0.1)"),
            bits,
            make: Box::new(move || Box::new(ZlibRs::new(6, bits, mem))),
        });
    }
    // The presets: `DeflateConfig::default()` (15-bit windows), `balanced()`
    // (13 bits: `wsbolt serve`'s default), `small()` (12 bits) and
    // `no_context_takeover()`.
    use wsbolt_proto::deflate::DeflateConfig;
    for (label, cfg) in [
        ("default (15-bit)", DeflateConfig::default()),
        ("balanced (13-bit, wsbolt serve's default)", DeflateConfig::balanced()),
        ("small (12-bit)", DeflateConfig::small()),
        ("no context takeover (15-bit)", DeflateConfig::no_context_takeover()),
    ] {
        let (level, bits, mem, reset) = (
            cfg.level,
            cfg.server_max_window_bits,
            cfg.mem_level,
            cfg.server_no_context_takeover,
        );
        v.push(Variant {
            name: format!("wsbolt {label}"),
            bits,
            make: Box::new(move || Box::new(Wsbolt(Compressor::new(level, bits, mem, reset)))),
        });
    }
    v
}

struct Row {
    wire: usize,
    cpu: Duration,
    heap: isize,
}

fn measure(variant: &Variant, msgs: &[Vec<u8>], passes: usize) -> Row {
    let mut cpus = Vec::new();
    let mut wire = Vec::new();
    let mut heap = 0;
    let mut out = Vec::with_capacity(1 << 20);
    for pass in 0..passes {
        let before = counting_alloc::live();
        let mut codec = (variant.make)();
        let mut frames = Vec::with_capacity(msgs.len());
        let t0 = thread_cpu();
        for m in msgs {
            out.clear();
            codec.compress(m, &mut out);
            if pass == 0 {
                frames.push(out.clone());
            }
        }
        cpus.push(thread_cpu() - t0);
        if pass == 0 {
            heap = counting_alloc::live()
                - before
                - frames.iter().map(|f| f.capacity() as isize).sum::<isize>()
                - (frames.capacity() * std::mem::size_of::<Vec<u8>>()) as isize;
            wire = frames;
        }
        drop(codec);
    }
    // Every stream must decode to its input.
    let mut d = Decompressor::new(variant.bits, false);
    let ok = &mut |_: &[u8]| Ok(());
    for (m, f) in msgs.iter().zip(&wire) {
        let mut back = Vec::new();
        d.inflate(f, &mut back, 64 << 20, ok).expect("inflate");
        d.finish_message(&mut back, 64 << 20, ok).expect("inflate");
        assert_eq!(&back, m, "{}: a message did not round-trip", variant.name);
    }
    cpus.sort();
    Row {
        wire: wire.iter().map(Vec::len).sum(),
        cpu: cpus[cpus.len() / 2],
        heap,
    }
}

/// Inflating C zlib 6's stream of the corpus (15-bit window, context
/// kept): wsbolt's inflater against C zlib's, thread CPU, median of passes.
fn measure_inflate(msgs: &[Vec<u8>], passes: usize) -> (Duration, Duration) {
    let mut c = CZlib(Compress::new_with_window_bits(Compression::new(6), false, 15));
    let wire: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            c.compress(m, &mut out);
            out
        })
        .collect();
    let (mut ours, mut zlib) = (Vec::new(), Vec::new());
    let ok = &mut |_: &[u8]| Ok(());
    let mut out = Vec::with_capacity(1 << 20);
    for _ in 0..passes {
        let mut d = Decompressor::new(15, false);
        let t0 = thread_cpu();
        for f in &wire {
            out.clear();
            d.inflate(f, &mut out, 64 << 20, ok).unwrap();
            d.finish_message(&mut out, 64 << 20, ok).unwrap();
        }
        ours.push(thread_cpu() - t0);
        let mut z = flate2::Decompress::new_with_window_bits(false, 15);
        let t0 = thread_cpu();
        for f in &wire {
            out.clear();
            let mut input = f.clone();
            input.extend_from_slice(&TRAILER);
            let before = z.total_in();
            loop {
                let done = (z.total_in() - before) as usize;
                z.decompress_vec(&input[done..], &mut out, flate2::FlushDecompress::Sync)
                    .unwrap();
                if (z.total_in() - before) as usize == input.len() && out.len() < out.capacity() {
                    break;
                }
                out.reserve(out.capacity());
            }
        }
        zlib.push(thread_cpu() - t0);
    }
    ours.sort();
    zlib.sort();
    (ours[passes / 2], zlib[passes / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let passes: usize = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1))
        .map_or(7, |v| v.parse().unwrap());
    let dir = std::env::var_os("WSBOLT_CORPUS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        std::path::PathBuf::from,
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "msgs"))
        .collect();
    names.sort();
    let mut json = serde_json::Map::new();
    let mut variants = variants();
    if let Some(only) = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)) {
        // The reference stays first: ratios are against it.
        variants.retain(|v| v.name.starts_with("C zlib 6") || v.name == *only);
    }
    let mut inflate_rows = Vec::new();
    println!("| corpus | codec | bytes in | bytes out | out/in | size vs C zlib 6 | CPU ns/byte in | CPU vs C zlib 6 | compressor heap |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let msgs = read_msgs(&path);
        let input: usize = msgs.iter().map(Vec::len).sum();
        let mut reference = None;
        let mut rows = serde_json::Map::new();
        for v in &variants {
            let r = measure(v, &msgs, passes);
            let (ref_wire, ref_cpu) = *reference.get_or_insert((r.wire, r.cpu));
            let ns = r.cpu.as_nanos() as f64 / input as f64;
            println!(
                "| {name} ({} msgs) | {} | {input} | {} | {:.3} | {:.3} | {ns:.2} | {:.2} | {} KiB |",
                msgs.len(),
                v.name,
                r.wire,
                r.wire as f64 / input as f64,
                r.wire as f64 / ref_wire as f64,
                r.cpu.as_secs_f64() / ref_cpu.as_secs_f64(),
                r.heap / 1024
            );
            rows.insert(
                v.name.clone(),
                serde_json::json!({"bytes_in": input, "bytes_out": r.wire, "cpu_ns": r.cpu.as_nanos() as u64,
                                   "compressor_heap": r.heap}),
            );
        }
        json.insert(name.clone(), serde_json::Value::Object(rows));
        inflate_rows.push((name, input, measure_inflate(&msgs, passes)));
    }
    println!("\n| corpus | inflate: wsbolt ns/byte out | C zlib ns/byte out | wsbolt vs C zlib |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, input, (ours, zlib)) in inflate_rows {
        let (a, b) = (
            ours.as_nanos() as f64 / input as f64,
            zlib.as_nanos() as f64 / input as f64,
        );
        println!("| {name} | {a:.2} | {b:.2} | {:.2} |", a / b);
    }
    if let Some(path) = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)) {
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }
}
