"""The ingest benchmark's printed table: CPU and memory per camera, the ratios, and the checks behind them.

The throughput lines come first after the ratios on purpose: a ratio means something only when every scenario
took in the same video (a reader that falls behind does less work and looks cheaper).
"""

from __future__ import annotations

from bench.ingest.harness import THROUGHPUT_FLOOR, Report


def format_report(report: Report) -> str:
    m = report.machine
    s = report.scenarios
    lines = [
        f"citywall ingest benchmark · {report.date}",
        f"machine: {m['cpu_model']} · {m['cores']} cores ({m['usable_cores']} usable) · {m['system']}",
        f"         Python {m['python']} · PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}) · "
        f"OpenCV {m['opencv']} (libavcodec {m['opencv_libavcodec']})",
        f"streams: {report.cameras} cameras, RTSP/TCP from gst-rtsp-server on 127.0.0.1 (server CPU not "
        f"counted); {report.seconds:g} s measured per scenario after {report.warmup:g} s warm-up",
    ]
    for clip in report.clips:
        count = sum(1 for name in report.assignment.values() if name == clip.name)
        lines.append(f"  {clip.name:<34} {clip.label:<42} × {count} cameras")
    lines += [
        "",
        f"{'scenario':<48} {'ms CPU/cam/video-s':>18} {'cores used':>11} {'RSS MiB/cam':>11}",
    ]
    for r in s.values():
        lines.append(
            f"{r.title:<48} {r.ms_cpu_per_camera_video_s:>18.2f} {r.cores_used:>11.3f} "
            f"{r.mb_per_camera:>11.2f}"
        )
    ratio_text = "   ".join(
        f"({'a' if k == 'sampling' else 'b'}) {k}: ×{v:.1f}" for k, v in report.ratios.items()
    )
    lines += ["", f"baseline ÷ citywall (CPU per camera per video-second):   {ratio_text}", ""]

    lines.append("throughput, per camera per second (same streams for all three):")
    lines.append(
        f"  {'clip':<34} {'stream fps':>10} {'(a) packets':>12} {'(b) packets':>12} {'(c) decoded':>12}"
    )
    for clip in report.clips:
        row = report.throughput[clip.name]
        lines.append(
            f"  {clip.name:<34} {row['stream_fps']:>10.2f} {row.get('sampling_packets_per_s', 0):>12.2f} "
            f"{row.get('remux_packets_per_s', 0):>12.2f} {row.get('baseline_frames_per_s', 0):>12.2f}"
        )
    verdict = (
        "OK" if report.throughput_ok else f"WARNING: a scenario took in < {THROUGHPUT_FLOOR:.0%} of the fps"
    )
    lines.append(f"  {verdict}")

    if "sampling" in s:
        lines += [
            "",
            "(a) sampler, per camera per second (decoded ÷ received = share of frames that were decoded):",
        ]
        for name, row in s["sampling"].per_clip_per_s.items():
            share = row["decoded"] / row["packets"] if row["packets"] else 0.0
            lines.append(
                f"  {name:<34} received {row['packets']:6.2f}  decoded {row['decoded']:6.2f} "
                f"({share:4.0%})  emitted {row['emitted']:5.2f}"
            )
        lines.append(f"  sampled frame size: {s['sampling'].notes.get('sample_sizes', '?')}")
    if "remux" in s:
        lines += ["", "(b) remux, per camera per second delivered to the viewer:"]
        for name, row in s["remux"].per_clip_per_s.items():
            lines.append(
                f"  {name:<34} fragments {row['fragments']:6.2f}  {row['bytes'] * 8 / 1000:7.1f} kbit/s"
            )
        skips = sum(c["skips"] for c in s["remux"].per_camera.values())
        lines.append(f"  viewer skips to the next keyframe (a slow viewer; should be 0): {skips:.0f}")
    lines += ["", "memory (RSS MiB): before → end of window → after stop"]
    for r in s.values():
        lines.append(
            f"  {r.title:<48} {r.rss_before_mb:7.1f} → {r.rss_end_mb:7.1f} → {r.rss_after_stop_mb:7.1f}"
        )
    notes = [f"  {r.key}: {k} = {v}" for r in s.values() for k, v in r.notes.items() if k != "sample_sizes"]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)
