"""The analytics benchmark's printed table: CPU per camera on each side, the ratios, where the CPU goes, scaling.

A ratio is printed with its verdict: it is VOID when either side missed looks, because a side that falls behind
does less work and its CPU per camera is then not the same job's.
"""

from __future__ import annotations

from bench.analytics.harness import Report
from bench.analytics.result import DROP_CEILING, IMGSZ, INTERVAL_S, KEEP_UP_FLOOR, SideResult

TARGET_RATIO = 10.0
FLOOR_TARGET = 1.2  # issue 17: camera threads within ×1.2 of their floor
CAMERA_GROUPS = ("camera threads (RTSP, demux, sampler decode + scale)", "FFmpeg decoder worker threads")


def camera_ms(r: SideResult) -> float:
    """CPU ms per camera-second in the camera threads and the decoder's slice threads they start."""
    return 1000 * sum(r.thread_cpu_s.get(g, 0.0) for g in CAMERA_GROUPS) / (r.cameras * r.window_s)


def _floor_lines(report: Report) -> list[str]:
    floor, cw, live = report.floor, report.citywall, report.citywall_live
    base, mine, with_live = camera_ms(floor), camera_ms(cw), camera_ms(live)
    ratio = mine / base if base else float("nan")
    verdict = "met" if ratio <= FLOOR_TARGET else "NOT met"
    return [
        "", "camera threads against their floor, same cameras, same run (CPU ms per camera-second in the camera "
        "threads and their decoder threads):",
        f"  {'floor: bare demux + one keyframe decode and scale per look':<66} {base:7.1f}   "
        f"(received {floor.per_camera_per_s(floor.received):.1f} packets/s, decoded "
        f"{floor.per_camera_per_s(floor.decoded):.2f} frames/s per camera)",
        f"  {'(a) citywall: session, ring, health, sampler':<66} {mine:7.1f}   ×{ratio:.2f} the floor "
        f"(target ≤ ×{FLOOR_TARGET:g}: {verdict})",
        f"  {'(a) with one live view per camera (fMP4 remux, a fast client)':<66} {with_live:7.1f}   "
        f"the live path adds {with_live - mine:+.1f} ms ({live.notes.get('live fragments received per camera', '?')} "
        "fragments per camera)",
    ] + [f"  {name}: {r.keeps_up()[1]}" for name, r in (("floor", floor), ("live", live)) if not r.keeps_up()[0]]


def _batches(sizes: dict[int, int]) -> str:
    calls = sum(sizes.values())
    mean = sum(k * v for k, v in sizes.items()) / calls if calls else 0.0
    return f"{' '.join(f'{k}×{v}' for k, v in sizes.items()) or 'none'}  (mean {mean:.2f} frames per call)"


def format_report(report: Report) -> str:
    m, cw, ul = report.machine, report.citywall, report.baseline
    sides = [("(a) citywall pipeline, as the service builds it", cw)]
    sides.append(("(a') citywall, change gate off", report.citywall_nogate))
    if ul is not None:
        sides.append(("(b) ultralytics predict(stream=True)", ul))
    lines = [
        f"citywall analytics benchmark · {report.date}",
        f"command: {report.command}",
        f"machine: {m['cpu_model']} · {m['cores']} cores ({m['usable_cores']} usable) · {m['system']}",
        f"         Python {m['python']} · PyAV {m['pyav']} (libavcodec {m['pyav_libavcodec']}) · OpenCV {m['opencv']} "
        f"(libavcodec {m['opencv_libavcodec']})",
        f"         onnxruntime {m['onnxruntime']} · ultralytics {m['ultralytics']} · torch {m['torch']}",
        f"cameras: {report.cameras} over RTSP/TCP from gst-rtsp-server on 127.0.0.1, taking these clips in turn"
        + (" (--still: each clip's first picture held, with sensor-like noise):" if report.still else ":"),
    ]
    lines += [f"  {c.name:<48} {c.label}" for c in report.clips]
    lines += [
        f"analysis: 1 look / {INTERVAL_S:g} s per camera on every side, same model {report.model} ({IMGSZ} px); "
        f"ultralytics vid_stride={report.vid_stride}",
        f"window: {report.seconds:g} s per run after {report.warmup:g} s warm-up; each side in its own subprocess, "
        "one after the other; the server's CPU is not counted",
        "",
        f"{'side':<40} {'CPU s/cam-min':>13} {'cores':>6} {'looks/cam/s':>11} {'detected':>8} "
        f"{'decoded/cam/s':>13} {'RSS MiB':>8}",
    ]
    for title, r in sides:
        share = sum(r.detected.values()) / max(1, sum(r.looks.values()))
        lines.append(
            f"{title:<40} {r.cpu_s_per_camera_minute:>13.2f} {r.cores_used:>6.3f} "
            f"{r.per_camera_per_s(r.looks):>11.3f} {share:>8.0%} {r.per_camera_per_s(r.decoded):>13.2f} "
            f"{r.rss_mb:>8.0f}"
        )
    lines.append("")
    if report.baseline_error:
        lines.append(f"(b) ultralytics FAILED, so there is no ratio: {report.baseline_error.splitlines()[0]}")
    ratios = [("(a)", report.ratio, cw), ("(a')", report.ratio_nogate, report.citywall_nogate)]
    for key, ratio, mine in ratios:
        if ratio is None or mine is None or ul is None:
            continue
        if ul.keeps_up()[0] and mine.keeps_up()[0]:
            verdict = f"target ×{TARGET_RATIO:g}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
        else:  # a side that misses looks did less work: its CPU per camera is not the same job's
            verdict = "VOID: not both sides kept up"
        lines.append(f"baseline ÷ citywall {key:<4}, CPU per camera at the same analysis rate: ×{ratio:.1f}   "
                     f"({verdict})")
    for title, r in sides:
        ok, why = r.keeps_up()
        lines.append(f"  {title.split()[0]} keeps up with {r.cameras} cameras: {'yes' if ok else 'NO'} ({why})")

    for title, r in sides:
        lines += ["", f"{title}, per camera per second:"]
        if r.side == "citywall":
            share = sum(r.decoded.values()) / max(1, sum(r.received.values()))
            lag = f"lag p95 {r.lag_p95_s:.2f} s, max {r.lag_max_s:.2f} s" if r.lag_max_s is not None else "no lags"
            lines += [
                f"  received {r.per_camera_per_s(r.received):.2f} packets · decoded "
                f"{r.per_camera_per_s(r.decoded):.2f} frames ({share:.1%}) · "
                f"analysed {r.per_camera_per_s(r.looks):.3f}",
                f"  detector batches: {_batches(r.batch_sizes)}",
                f"  frames in {r.frames_in} · analysed {sum(r.looks.values())} (detector on "
                f"{sum(r.detected.values())}, the rest reused detections) · dropped {r.dropped} · {lag}",
            ]
        else:
            lines += [
                f"  decoded {r.per_camera_per_s(r.decoded):.2f} frames (LoadStreams grab()s every frame) · "
                f"results {r.per_camera_per_s(r.looks):.3f}",
                f"  predictor batches: {_batches(r.batch_sizes)}",
            ]

    lines += ["", "where the CPU goes, in CPU ms per camera per second (stage lines: wall ms per detected frame for "
              "the detector's stages, per analysed frame for the rest):"]
    for title, r in sides:
        cam_s = r.cameras * r.window_s
        frames, detected = max(1, sum(r.looks.values())), max(1, sum(r.detected.values()))
        lines.append(f"  {title}: {1000 * r.cpu_s / cam_s:.1f} ms in all")
        lines += [f"    {k:<66} {1000 * v / cam_s:7.1f}" for k, v in r.thread_cpu_s.items()]
        lines += [f"    · {k:<64} {1000 * v / (detected if 'detector' in k else frames):7.1f}"
                  for k, v in r.stage_s.items()]

    lines += _floor_lines(report)

    lines += ["", "memory (RSS MiB at the end of the window / peak):"]
    lines += [f"  {title:<48} {r.rss_mb:7.0f} / {r.rss_peak_mb:7.0f}" for title, r in sides]

    lines += [
        "",
        "citywall (a) scaling, same window per run; keeps up = every camera ≥ "
        f"{KEEP_UP_FLOOR:.0%} of its looks and ≤ {DROP_CEILING:.0%} of sampled frames dropped;",
        "  lag = packet arrived → analysis done (all cameras' keyframes arrive together here: latency's worst case)",
        f"  {'N':>4} {'CPU s/cam-min':>13} {'cores':>6} {'server cores':>12} {'slowest cam':>11} {'dropped':>8} "
        f"{'lag p95':>8} {'mean batch':>10} {'RSS MiB':>8}  keeps up",
    ]
    for r in report.scaling:
        ok, why = r.keeps_up()
        calls = sum(r.batch_sizes.values())
        mean = sum(k * v for k, v in r.batch_sizes.items()) / calls if calls else 0.0
        lag = f"{r.lag_p95_s:.2f}" if r.lag_p95_s is not None else "?"
        lines.append(
            f"  {r.cameras:>4} {r.cpu_s_per_camera_minute:>13.2f} {r.cores_used:>6.3f} "
            f"{r.server_cpu_s / r.window_s:>12.3f} {r.worst_look_share:>11.0%} {r.dropped:>8} {lag:>8} "
            f"{mean:>10.2f} {r.rss_mb:>8.0f}  {'yes' if ok else 'NO: ' + why}"
        )
    if report.largest_n_keeping_up is None:
        lines.append("largest N that keeps up: none of those tried")
    elif report.limit_reached:
        lines.append(f"largest N that keeps up on this machine: {report.largest_n_keeping_up}")
    else:
        lines.append(f"largest N that keeps up on this machine: ≥ {report.largest_n_keeping_up} "
                     "(every N tried kept up; raise --max-n to find the limit)")
    notes = [f"  {title.split()[0]} {k}: {v}" for title, r in sides for k, v in r.notes.items()]
    return "\n".join([*lines, "", "notes:", *notes])
