//! Feature extraction cost per window and per sample, for one 12 kHz vibration signal at window
//! sizes 256, 1024, 2048 and 4096.
//!
//! `cargo bench --bench features` (add `-- full` etc. to filter). Throughput is in samples, so
//! criterion's `thrpt` is samples per second: ns per sample = 1e9 / thrpt. Groups:
//! - `time`: the ten time-domain features (two passes over the window);
//! - `spectrum`: time features + peak frequency, centroid, four band energies (one real FFT);
//! - `full`: spectrum + three envelope bands of the whole signal and three of its 2–5 kHz band
//!   (two envelope spectra: five more real FFTs);
//!
//! Before measuring, the bench checks that [`FeatureExtractor::extract`] allocates nothing, with a
//! counting global allocator, and exits non-zero if it does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput};
use forewarn::features::{FeatureExtractor, FeatureSet, SignalShape};

struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const FS: f64 = 12_000.0;
const SIZES: [usize; 4] = [256, 1024, 2048, 4096];

const TIME: [&str; 10] = [
    "vib.mean",
    "vib.std",
    "vib.min",
    "vib.max",
    "vib.rms",
    "vib.peak_to_peak",
    "vib.crest_factor",
    "vib.skewness",
    "vib.kurtosis",
    "vib.slope",
];
const SPECTRAL: [&str; 6] = [
    "vib.peak_freq",
    "vib.spectral_centroid",
    "vib.band_energy[0,500]",
    "vib.band_energy[500,1500]",
    "vib.band_energy[1500,3000]",
    "vib.band_energy[3000,6001]",
];
const ENVELOPE: [&str; 6] = [
    "vib.env_band[100,200]",
    "vib.env_band[200,300]",
    "vib.env_band[300,400]",
    "vib.env_band[100,200,2000,5000]",
    "vib.env_band[200,300,2000,5000]",
    "vib.env_band[300,400,2000,5000]",
];

fn feature_sets() -> [(&'static str, Vec<&'static str>); 3] {
    [
        ("time", TIME.to_vec()),
        ("spectrum", [&TIME[..], &SPECTRAL[..]].concat()),
        ("full", [&TIME[..], &SPECTRAL[..], &ENVELOPE[..]].concat()),
    ]
}

/// Bearing-like test signal: a 3 kHz resonance struck at 162 Hz, a shaft tone, noise.
fn signal(n: usize) -> Vec<f64> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let t = i as f64 / FS;
            let since = t % (1.0 / 162.2);
            let tau = std::f64::consts::TAU;
            0.3 * (tau * 29.95 * t).sin()
                + (-900.0 * since).exp() * (tau * 3000.0 * since).sin()
                + 0.1 * ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        })
        .collect()
}

fn extractor(names: &[&str], n: usize) -> FeatureExtractor {
    let set = FeatureSet::parse(names).unwrap_or_else(|e| panic!("{e}"));
    let shape = SignalShape {
        len: n,
        sample_rate_hz: FS,
    };
    FeatureExtractor::new(set, &[shape]).unwrap_or_else(|e| panic!("{e}"))
}

/// Exits the bench if extraction allocates.
fn check_no_allocation() {
    for n in SIZES {
        let (_, names) = &feature_sets()[2];
        let mut ex = extractor(names, n);
        let x = signal(n);
        let mut out = vec![0f32; ex.len()];
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..100 {
            ex.extract(&[&x], &mut out)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
        if allocated > 0 {
            eprintln!("feature extraction allocated {allocated} times in 100 windows of {n}");
            std::process::exit(1);
        }
    }
    eprintln!("feature extraction: no allocation in 100 windows of each size");
}

fn bench(c: &mut Criterion) {
    for (group_name, names) in feature_sets() {
        let mut group = c.benchmark_group(group_name);
        for n in SIZES {
            let mut ex = extractor(&names, n);
            let x = signal(n);
            let mut out = vec![0f32; ex.len()];
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), &x, |b, x| {
                b.iter(|| {
                    ex.extract(&[black_box(x.as_slice())], &mut out)
                        .unwrap_or_else(|e| panic!("{e}"));
                    black_box(&out);
                })
            });
        }
        group.finish();
    }
}

fn main() {
    check_no_allocation();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
