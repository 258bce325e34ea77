//! The simulator on jobs small enough to schedule by hand.

use super::*;

/// A successful attempt of `frames` pictures of 100 pixels, from `start_s` to `end_s`.
fn record(kind: &str, chunk: u32, frames: u32, start_s: f64, end_s: f64) -> TimelineRecord {
    TimelineRecord {
        kind: kind.into(),
        chunk,
        worker: 0,
        start_s,
        end_s,
        bytes_in: 1000 * u64::from(frames),
        bytes_out: 100 * u64::from(frames),
        attempt: 1,
        ok: true,
        cause: None,
        frames,
        pixels: 100,
    }
}

/// A measured ExCamera[2, 2] of 7 frames (chunks 0..=3, the last of one frame) on one
/// worker: chunk encodes take 1 s a frame, given-state encodes 0.5 s, rebases 0.25 s a
/// frame, and one failed attempt that counts for nothing.
fn measured_run() -> Vec<TimelineRecord> {
    let mut records = Vec::new();
    let mut now = 0.0;
    let mut push = |kind: &str, chunk: u32, frames: u32, seconds: f64| {
        records.push(record(kind, chunk, frames, now, now + seconds));
        now += seconds;
    };
    for chunk in 0..4 {
        let frames = if chunk == 3 { 1 } else { 2 };
        push("encode_chunk", chunk, frames, f64::from(frames));
    }
    for chunk in [1, 3] {
        let frames = if chunk == 3 { 1 } else { 2 };
        push("encode_given_state", chunk, 1, 0.5);
        push("rebase", chunk, frames, 0.25 * f64::from(frames));
    }
    let mut failed = record("rebase", 1, 2, 9.0, 30.0);
    failed.ok = false;
    failed.cause = Some("timeout".into());
    records.push(failed);
    records
}

fn free() -> Platform {
    Platform {
        cold_start_s: 0.0,
        invoke_latency_s: 0.0,
        bandwidth: None,
        concurrency_limit: None,
        cores: None,
        host_load: 0.0,
    }
}

/// Eight frames in chunks of two, on `platform`, with `workers` workers.
fn predict(batch: Batch, platform: Platform, workers: usize) -> Prediction {
    let measured = measure(&measured_run()).unwrap();
    let job = Job {
        frames: 8,
        batch,
        ..measured.job
    };
    simulate(&job, &measured.costs, &platform, workers).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn the_job_and_its_costs_are_read_off_the_successful_attempts() {
    let measured = measure(&measured_run()).unwrap();
    assert_eq!(
        measured.job,
        Job {
            frames: 7,
            pixels: 100,
            chunk_frames: 2,
            batch: Batch::Chunks(2),
        }
    );
    assert_eq!(measured.workers, 1);
    assert!(close(measured.wall_s, 30.0));
    let cost = |kind: &str| measured.costs[kind];
    assert_eq!(cost("encode_chunk").tasks, 4);
    assert!(close(cost("encode_chunk").seconds_per_pixel, 0.01));
    assert!(close(cost("encode_given_state").seconds_per_pixel, 0.005));
    // The failed rebase does not count.
    assert_eq!(cost("rebase").tasks, 2);
    assert!(close(cost("rebase").seconds_per_pixel, 0.0025));
    assert!(close(cost("rebase").bytes_per_pixel, 11.0));
}

#[test]
fn one_worker_takes_every_task_in_turn() {
    // 4 encodes of 2 s, 2 given-state encodes of 0.5 s, 2 rebases of 0.5 s.
    let one = predict(Batch::Chunks(2), free(), 1);
    assert!(
        close(one.wall_s, 10.0) && close(one.worker_s, 10.0),
        "{one:?}"
    );
    assert_eq!(one.tasks, 8);
    let latency = Platform {
        invoke_latency_s: 0.1,
        ..free()
    };
    let one = predict(Batch::Chunks(2), latency, 1);
    assert!(close(one.wall_s, 10.8), "{one:?}");
}

#[test]
fn many_workers_leave_the_critical_path() {
    // Encodes 0..2, given-state encodes 2..2.5, rebases 2.5..3, one batch each pair.
    let many = predict(Batch::Chunks(2), free(), 100);
    assert!(close(many.wall_s, 3.0), "{many:?}");
    assert!(close(many.worker_s, 10.0), "the same work, spread out");
    // One batch: the rebases walk along it, one after another.
    let whole = predict(Batch::Whole, free(), 100);
    assert!(close(whole.wall_s, 2.0 + 0.5 + 3.0 * 0.5), "{whole:?}");
    assert_eq!(whole.tasks, 4 + 3 + 3);
}

#[test]
fn cold_starts_come_once_a_worker_and_the_limit_caps_concurrency() {
    let cold = Platform {
        cold_start_s: 1.0,
        ..free()
    };
    let many = predict(Batch::Chunks(2), cold, 100);
    // Four workers start cold for the encodes, and stay warm for the rest.
    assert!(close(many.wall_s, 4.0), "{many:?}");
    assert!(close(many.worker_s, 14.0), "{many:?}");
    let limited = Platform {
        concurrency_limit: Some(2),
        ..free()
    };
    let capped = predict(Batch::Chunks(2), limited, 100);
    let two = predict(Batch::Chunks(2), free(), 2);
    assert!(close(capped.wall_s, two.wall_s), "{capped:?} {two:?}");
    assert_eq!(capped.vm_usd(&limited), two.vm_usd(&free()));
}

#[test]
fn bytes_moved_cost_time_at_the_given_bandwidth() {
    let slow_link = Platform {
        bandwidth: Some(1100.0),
        ..free()
    };
    // 11 bytes a pixel, 100 pixels a frame: a second a frame at 1100 bytes a second.
    let one = predict(Batch::Chunks(2), slow_link, 1);
    assert!(
        close(one.wall_s, 10.0 + 4.0 * 2.0 + 2.0 + 2.0 * 2.0),
        "{one:?}"
    );
}

#[test]
fn costs_are_billed_per_worker_second_and_per_request() {
    let one = predict(Batch::Chunks(2), free(), 1);
    let gb_s = 10.0 * LAMBDA_MEMORY_MB / 1024.0;
    assert!(close(
        one.lambda_usd(),
        gb_s * LAMBDA_GB_S_USD + 8.0 * LAMBDA_REQUEST_USD
    ));
    assert!(close(one.vm_usd(&free()), 10.0 / 3600.0 * VM_VCPU_HOUR_USD));
}

#[test]
fn timelines_it_cannot_measure_are_refused_with_the_reason() {
    let mut old = measured_run();
    for record in &mut old {
        record.frames = 0;
    }
    let message = measure(&old).unwrap_err().to_string();
    assert!(message.contains("older flick"), "{message}");
    let partial: Vec<TimelineRecord> = measured_run()
        .into_iter()
        .filter(|r| r.chunk != 1)
        .collect();
    let message = measure(&partial).unwrap_err().to_string();
    assert!(message.contains("3 chunks out of 4"), "{message}");
    let message = measure(&[]).unwrap_err().to_string();
    assert!(message.contains("no successful chunk encode"), "{message}");
    // A job of more rebases than the measured run had none of.
    let encodes_only: Vec<TimelineRecord> = measured_run()
        .into_iter()
        .filter(|r| r.kind == "encode_chunk")
        .collect();
    let measured = measure(&encodes_only).unwrap();
    assert_eq!(measured.job.batch, Batch::Chunks(1));
    let job = Job {
        batch: Batch::Whole,
        ..measured.job
    };
    let message = simulate(&job, &measured.costs, &free(), 2)
        .unwrap_err()
        .to_string();
    assert!(message.contains("encode_given_state"), "{message}");
}

#[test]
fn workers_on_shared_cpus_go_at_their_share() {
    // Two workers on one CPU take as long as one worker.
    let one_cpu = Platform {
        cores: Some(1.0),
        ..free()
    };
    let shared = predict(Batch::Chunks(2), one_cpu, 2);
    assert!(close(shared.wall_s, 10.0), "{shared:?}");
    // Two workers on two CPUs, with half a CPU of the host's work beside them, go at 3/4.
    let two = predict(Batch::Chunks(2), free(), 2);
    let loaded = Platform {
        cores: Some(2.0),
        host_load: 0.5,
        ..free()
    };
    let slowed = predict(Batch::Chunks(2), loaded, 2);
    assert!(slowed.wall_s > two.wall_s, "{slowed:?} {two:?}");
    assert!(
        slowed.wall_s <= two.wall_s / 0.75 + 1e-6,
        "{slowed:?} {two:?}"
    );
    // Enough CPUs: no change.
    let roomy = Platform {
        cores: Some(8.0),
        ..free()
    };
    assert!(close(
        predict(Batch::Chunks(2), roomy, 2).wall_s,
        two.wall_s
    ));
}
