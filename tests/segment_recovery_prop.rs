//! Recovery property: build a segment of random batches, cut it at any byte
//! or flip any byte, then `recover` keeps exactly the batches before the
//! first damaged one, its indexes equal a fresh build of what it kept, and
//! the segment accepts appends afterwards.

use bytes::Bytes;
use proptest::prelude::*;
use topiclog::format::{BatchBuilder, Compression, FileBatches, Record};
use topiclog::segment::{LogSegment, SegmentConfig};

const CONFIG: SegmentConfig =
    SegmentConfig { index_interval_bytes: 200, max_index_size: 64 * 1024, preallocate_bytes: 64 * 1024 };

fn encode(base: i64, sizes: &[usize], ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).base_offset(base);
    for (i, &n) in sizes.iter().enumerate() {
        b.append(&Record::new().value(vec![i as u8; n]).timestamp(ts + i as i64)).unwrap();
    }
    b.build().unwrap().into_bytes().to_vec()
}

/// Batches of 1-4 records of 0-150 bytes, with timestamps that wander.
fn batches() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec((prop::collection::vec(0usize..150, 1..4), 0i64..1000, 0i64..3), 1..25).prop_map(|specs| {
        let mut offset = 0;
        specs
            .into_iter()
            .map(|(sizes, ts, gap)| {
                offset += gap; // compacted-style gaps between batches
                let b = encode(offset, &sizes, ts);
                offset += sizes.len() as i64;
                b
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Cut(usize),
    Flip(usize, u8),
}

fn fresh_build(dir: &std::path::Path, batches: &[Vec<u8>]) -> LogSegment {
    let seg = LogSegment::create(dir, 0, CONFIG).unwrap();
    for b in batches {
        seg.append(b).unwrap();
    }
    seg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn recover_keeps_exactly_the_undamaged_prefix(
        batches in batches(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let damaged_dir = dir.path().join("damaged");
        std::fs::create_dir(&damaged_dir).unwrap();
        let total: usize = batches.iter().map(Vec::len).sum();
        let damage = if cut { Damage::Cut(at.index(total)) } else { Damage::Flip(at.index(total), flip) };

        let seg = fresh_build(&damaged_dir, &batches);
        seg.flush().unwrap();
        let mut bytes = batches.concat();
        match damage {
            Damage::Cut(n) => bytes.truncate(n),
            Damage::Flip(i, x) => bytes[i] ^= x,
        }
        std::fs::write(seg.log_path(), &bytes).unwrap();
        let report = seg.recover(u64::MAX).unwrap();

        // The first damaged batch, and where in it the damage fell.
        let at_byte = match damage { Damage::Cut(n) | Damage::Flip(n, _) => n };
        let mut start = 0;
        let mut k = 0;
        while k < batches.len() && start + batches[k].len() <= at_byte {
            start += batches[k].len();
            k += 1;
        }
        let kept = report.batches as usize;
        let within = at_byte - start;
        match damage {
            Damage::Cut(_) => prop_assert_eq!(kept, k),
            // Kafka's CRC leaves out the base offset (bytes 0-7) and the
            // leader epoch (12-15). A changed epoch is harmless; a changed
            // base offset is caught only when it breaks offset order.
            Damage::Flip(..) if (12..16).contains(&within) => prop_assert_eq!(kept, batches.len()),
            Damage::Flip(..) if within < 8 => prop_assert!(kept >= k),
            Damage::Flip(..) => prop_assert_eq!(kept, k),
        }
        let kept_bytes: usize = batches[..k.min(kept)].iter().map(Vec::len).sum();
        if kept == k {
            prop_assert_eq!(report.valid_bytes as usize, kept_bytes);
            prop_assert_eq!(std::fs::metadata(seg.log_path()).unwrap().len() as usize, kept_bytes);
        }

        // What survives is a valid log with increasing offsets.
        let survivors: Vec<_> = FileBatches::new(Bytes::from(std::fs::read(seg.log_path()).unwrap()), 0)
            .collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(survivors.len(), kept);
        prop_assert!(survivors.windows(2).all(|w| w[1].base_offset() > w[0].last_offset()));

        // Indexes equal a fresh build of the kept batches.
        if kept == k {
            let fresh_dir = dir.path().join("fresh");
            std::fs::create_dir(&fresh_dir).unwrap();
            let fresh = fresh_build(&fresh_dir, &batches[..k]);
            prop_assert_eq!(seg.offset_index_entries(), fresh.offset_index_entries());
            fresh.seal().unwrap();
            prop_assert_eq!(seg.time_index_entries(), fresh.time_index_entries());
            prop_assert_eq!(seg.next_offset(), fresh.next_offset());
            prop_assert_eq!(seg.max_timestamp(), fresh.max_timestamp());
        }

        // And it takes appends again.
        seg.activate().unwrap();
        let next = seg.next_offset();
        seg.append(&encode(next, &[10], 5)).unwrap();
        let read = seg.read(next, 1000, true).unwrap().unwrap();
        prop_assert_eq!(FileBatches::new(read, 0).next().unwrap().unwrap().base_offset(), next);
    }
}

/// Cases per property: `default`, or `PROPTEST_CASES` when set (for longer runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
