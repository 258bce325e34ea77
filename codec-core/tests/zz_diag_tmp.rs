use codec_core::Picture;
use codec_core::container::y4m::parse_y4m;
use codec_core::encoder::rate_control::RateMode;
use codec_core::encoder::sequence::{SequenceConfig, SequenceEncoder};
use codec_core::metrics::ssim;

#[test]
fn diag() {
    let data = std::fs::read("/tmp/ff/bbb180.y4m").unwrap();
    let (h, frames) = parse_y4m(&data).unwrap();
    let pics: Vec<Picture> = frames
        .map(|f| {
            let f = f.unwrap();
            Picture::from_i420(h.width, h.height, f.y, f.u, f.v)
        })
        .collect();
    for rate in [RateMode::TargetSsim { ssim: 0.95 }] {
        let cfg = SequenceConfig {
            rate,
            frame_rate: (25, 1),
            speed: 4,
            ..SequenceConfig::default()
        };
        let mut enc = SequenceEncoder::new(cfg);
        let t = std::time::Instant::now();
        let mut bytes = 0;
        let mut qs = vec![];
        let mut ss = vec![];
        let mut keys = vec![];
        for (i, p) in pics.iter().enumerate() {
            let f = enc.encode_next(p).unwrap();
            bytes += f.data.len();
            qs.push(f.stats.quantizer);
            ss.push(ssim(p, &f.picture));
            if f.stats.key_frame {
                keys.push(i);
            }
            eprintln!(
                "{i}: q {} ssim {:.4} bytes {} intra {}/{}",
                f.stats.quantizer,
                ss[i],
                f.data.len(),
                f.stats.intra_macroblocks,
                f.stats.macroblocks
            );
        }
        let kbps = bytes as f64 * 8.0 / (pics.len() as f64 / 25.0) / 1000.0;
        let minss = ss.iter().cloned().fold(1.0, f64::min);
        let avgss = ss.iter().sum::<f64>() / ss.len() as f64;
        eprintln!(
            "{rate:?}: {kbps:.1} kb/s, ssim avg {avgss:.4} min {minss:.4}, keys {keys:?}, {:.2}s\n  q {qs:?}",
            t.elapsed().as_secs_f64()
        );
    }
}
