#!/usr/bin/python3
"""Turn one boot's console log into a per-phase profile, and compare two.

  boot_report.py analyze CONSOLE SYMBOLS|- OUTDIR [--label L] [--method M]
  boot_report.py compare A.json B.json OUTDIR

CONSOLE holds the live console and, between the init's "agentbox: kernel
log begin" and "... end" lines, the kernel log with initcall_debug lines
and the init's phase marks. SYMBOLS is `nm vmlinux`: the initcall section boundaries say
which level each call belongs to, and the function symbols name the calls
when the kernel has no kallsyms; without it ("-"), the kernel is one phase. Writes profile.{json,txt,svg} or
compare.{json,txt,svg}. Errors are one line on stderr and exit status 1.
"""
import json
import math
import os
import re
import sys
import tempfile
from xml.sax.saxutils import escape

FORMAT_VERSION = 1

# Initcall groups in the order do_pre_smp_initcalls and do_initcalls run
# them, with the section symbol each starts at. rootfs sits inside level 5.
INITCALL_GROUPS = [
	("early", "__initcall_start"),
	("pure", "__initcall0_start"),
	("core", "__initcall1_start"),
	("postcore", "__initcall2_start"),
	("arch", "__initcall3_start"),
	("subsys", "__initcall4_start"),
	("fs", "__initcall5_start"),
	("rootfs", "__initcallrootfs_start"),
	("device", "__initcall6_start"),
	("late", "__initcall7_start"),
]
INITCALL_END = "__initcall_end"

INIT_PHASES = [
	("init-rootfs", "init: mount the rootfs overlay, switch root", "init", "rootfs"),
	("init-cgroups", "init: delegate cgroup v2 controllers", "rootfs", "cgroups"),
	("init-start-dockerd", "init: hostname, loopback, start dockerd", "cgroups", "dockerd-start"),
	("dockerd", "dockerd: start to API ready", "dockerd-start", "dockerd-ready"),
]

CATEGORY_COLOURS = {
	"firmware": "#9e9e9e",
	"kernel": "#3f6fb5",
	"initcall": "#2a9d8f",
	"init": "#e07a1f",
	"dockerd": "#7b4fa8",
}

# "<7>" is syslog's level; a console that dropped a byte may have eaten its
# "<" (the loader drops, and counts, what it cannot buffer).
KERNEL_LOG_LINE = re.compile(r"^(?:<?\d+>)?\[\s*(\d+\.\d+)\] (.*)$")


class ProfileError(Exception):
	pass


def write_atomic(path, text):
	"""Readers see the old file or the whole new one, never a torn one."""
	directory = os.path.dirname(os.path.abspath(path))
	fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp.")
	try:
		with os.fdopen(fd, "w") as f:
			f.write(text)
			f.flush()
			os.fsync(f.fileno())
		os.rename(tmp, path)
	except BaseException:
		os.unlink(tmp)
		raise


def read_kernel_log(console_path):
	"""The (seconds, text) lines of the kernel log the init printed."""
	try:
		with open(console_path, errors="replace") as f:
			lines = [line.rstrip("\r\n") for line in f]
	except OSError as e:
		raise ProfileError(f"{console_path}: {e.strerror}")
	try:
		begin = lines.index("agentbox: kernel log begin")
		end = lines.index("agentbox: kernel log end", begin)
	except ValueError:
		raise ProfileError(f"{console_path}: no kernel log; the guest did not finish its boot")
	log = []
	for line in lines[begin + 1:end]:
		m = KERNEL_LOG_LINE.match(line)
		if m:
			log.append((float(m.group(1)), m.group(2)))
	if not log:
		raise ProfileError(f"{console_path}: the kernel log is empty")
	return lines, log


def read_symbols(symbols_path):
	"""Initcall section boundaries and an address-to-function map from nm."""
	sections, functions = {}, {}
	try:
		with open(symbols_path) as f:
			for line in f:
				fields = line.split()
				if len(fields) != 3:
					continue
				addr, kind, name = int(fields[0], 16), fields[1], fields[2]
				if name.startswith("__initcall") and name.endswith(("_start", "_end")):
					sections[name] = addr
				elif kind in "tT":
					functions.setdefault(addr, name)
	except (OSError, ValueError) as e:
		raise ProfileError(f"{symbols_path}: not an nm listing of vmlinux ({e})")
	missing = [s for _, s in INITCALL_GROUPS + [(None, INITCALL_END)] if s not in sections]
	if missing:
		raise ProfileError(f"{symbols_path}: no initcall section symbol {missing[0]}")
	return sections, functions


def initcall_levels(sections):
	"""The group of each initcall, in call order: one entry per 4-byte slot."""
	bounds = [sections[s] for _, s in INITCALL_GROUPS] + [sections[INITCALL_END]]
	levels = []
	for i, (group, _) in enumerate(INITCALL_GROUPS):
		slots = (bounds[i + 1] - bounds[i]) // 4
		levels += [group] * slots
	return levels


def function_name(token, functions):
	if token.startswith("0x"):
		return functions.get(int(token, 16), token)
	return token.split("+", 1)[0]


def parse_initcalls(log, levels, functions):
	calls = []
	pending = None
	for t, text in log:
		if text.startswith("calling  "):
			pending = (t, text.split()[1])
		elif text.startswith("initcall ") and " returned " in text and pending:
			m = re.search(r"after (\d+) usecs", text)
			if not m:
				continue
			calls.append({
				"name": function_name(pending[1], functions),
				"start_s": pending[0],
				"end_s": t,
				"usecs": int(m.group(1)),
			})
			pending = None
	if not calls:
		raise ProfileError("the kernel log has no initcall_debug lines (was initcall_debug on the command line?)")
	if len(calls) != len(levels):
		raise ProfileError(f"the kernel log has {len(calls)} initcalls but vmlinux has {len(levels)}: "
				   "the symbols are not from the kernel that booted")
	for call, level in zip(calls, levels):
		call["level"] = level
	return calls


def find_marks(log):
	"""The init's phase marks: guest seconds and TSC readings."""
	marks, tsc = {}, {}
	for t, text in log:
		m = re.match(r"agentbox: phase=(\S+) tsc=(\d+)", text)
		if m:
			marks.setdefault(m.group(1), t)
			tsc.setdefault(m.group(1), int(m.group(2)))
	return marks, tsc


def tsc_mhz(log):
	mhz = None
	for _, text in log:
		m = re.search(r"tsc: (?:Detected|Refined TSC clocksource calibration:) (\d+\.\d+) MHz", text)
		if m:
			mhz = float(m.group(1))
	return mhz


def boottimer_ms(console_lines):
	"""The loader's boot-timer log: host milliseconds from VM start."""
	found = {}
	for line in console_lines:
		m = re.search(r"boot phase (\S+) at (\d+(?:\.\d+)?) ms", line)
		if m:
			found.setdefault(m.group(1), float(m.group(2)))
	return found


def ms(seconds):
	return seconds * 1000.0


def phase(name, label, category, start_ms, end_ms):
	return {
		"name": name,
		"label": label,
		"category": category,
		"start_ms": round(start_ms, 3),
		"duration_ms": round(end_ms - start_ms, 3),
	}


def firmware_ms(marks, tsc, log, console_lines):
	"""Time from VM start to the kernel's clock start, and how it was found."""
	if "init" not in marks:
		return None, None
	loader = boottimer_ms(console_lines)
	if "init" in loader:
		return loader["init"] - marks["init"] * 1000.0, "boot-timer device"
	mhz = tsc_mhz(log)
	if mhz and "init" in tsc:
		return tsc["init"] / (mhz * 1000.0) - marks["init"] * 1000.0, "TSC since reset"
	return None, None


def kernel_phases(calls, end_ms):
	phases = [phase("kernel-setup", "kernel: start_kernel to first initcall", "kernel",
			0.0, ms(calls[0]["start_s"]))]
	groups = []
	for call in calls:
		if not groups or groups[-1][0] != call["level"]:
			groups.append((call["level"], call["start_s"]))
	for i, (group, start) in enumerate(groups):
		end = groups[i + 1][1] if i + 1 < len(groups) else calls[-1]["end_s"]
		label = f"initcalls: {group}"
		if group == "early":
			label = "initcalls: early, then SMP bring-up"
		phases.append(phase(f"initcalls-{group}", label, "initcall", ms(start), ms(end)))
	phases.append(phase("kernel-to-init", "kernel: free init memory, exec /init", "kernel",
			    ms(calls[-1]["end_s"]), end_ms))
	return phases


def analyze(console_path, symbols_path, label, method):
	console_lines, log = read_kernel_log(console_path)
	calls = []
	if symbols_path != "-":
		sections, functions = read_symbols(symbols_path)
		calls = parse_initcalls(log, initcall_levels(sections), functions)
	marks, tsc = find_marks(log)
	if "init" not in marks:
		raise ProfileError(f"{console_path}: the init never marked phase=init in the kernel log")
	phases = []
	fw, fw_source = firmware_ms(marks, tsc, log, console_lines)
	if fw is not None:
		phases.append(phase("firmware", f"firmware/loader to kernel clock ({fw_source})",
				    "firmware", -fw, 0.0))
	if calls:
		phases += kernel_phases(calls, ms(marks["init"]))
	else:
		phases.append(phase("kernel", "kernel: clock start to /init", "kernel", 0.0, ms(marks["init"])))
	for name, text, start, end in INIT_PHASES:
		if start in marks and end in marks:
			category = "dockerd" if name == "dockerd" else "init"
			phases.append(phase(name, text, category, ms(marks[start]), ms(marks[end])))
	for call in calls:
		call["start_ms"] = round(ms(call.pop("start_s")), 3)
		del call["end_s"]
	last = phases[-1]
	return {
		"format": FORMAT_VERSION,
		"label": label,
		"method": method,
		"kernel_to_init_ms": round(ms(marks["init"]), 3),
		"total_ms": round(last["start_ms"] + last["duration_ms"] - phases[0]["start_ms"], 3),
		"phases": phases,
		"initcalls": calls,
	}


def text_report(p):
	out = [f"boot profile: {p['label']} ({p['method']})", ""]
	out.append(f"{'phase':<52} {'start ms':>11} {'ms':>11}")
	for ph in p["phases"]:
		out.append(f"{ph['label']:<52} {ph['start_ms']:>11.3f} {ph['duration_ms']:>11.3f}")
	out.append(f"{'total':<52} {'':>11} {p['total_ms']:>11.3f}")
	out.append("")
	out.append(f"kernel clock start to init: {p['kernel_to_init_ms']:.3f} ms")
	out.append("")
	if p["initcalls"]:
		out.append("slowest initcalls:")
	for call in sorted(p["initcalls"], key=lambda c: -c["usecs"])[:10]:
		out.append(f"  {call['usecs']:>8} us  {call['level']:<8} {call['name']}")
	return "\n".join(out) + "\n"


def svg_text(x, y, text, anchor="start", size=12, weight="normal"):
	return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
		f'text-anchor="{anchor}">{escape(text)}</text>')


def svg_document(width, height, body):
	return "\n".join([
		'<?xml version="1.0" encoding="UTF-8"?>',
		f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
		f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
		f'<rect width="{width}" height="{height}" fill="white"/>',
		*body,
		"</svg>",
	]) + "\n"


LABEL_W, BAR_W, VALUE_W, ROW_H = 330, 420, 170, 22


def bar_width(ms, widest_ms):
	"""Widths follow the log of the time, so that 50 us and 5 s both show."""
	if ms <= 0 or widest_ms <= 0:
		return 0.0
	floor = widest_ms / 1e5
	span = (max(ms, floor) / floor)
	return BAR_W * math.log10(span) / math.log10(widest_ms / floor)


def timeline_strip(phases, y, width):
	"""One proportional strip of the whole boot, coloured by kind."""
	total = sum(ph["duration_ms"] for ph in phases) or 1.0
	body, x = [], 10.0
	for ph in phases:
		w = (width - 20) * ph["duration_ms"] / total
		body.append(f'<rect x="{x:.2f}" y="{y}" width="{max(w, 0):.2f}" height="16" '
			    f'fill="{CATEGORY_COLOURS[ph["category"]]}"><title>{escape(ph["label"])}: '
			    f'{ph["duration_ms"]:.3f} ms</title></rect>')
		x += w
	return body


def profile_svg(p):
	phases = p["phases"]
	width = LABEL_W + BAR_W + VALUE_W
	widest = max(ph["duration_ms"] for ph in phases)
	body = [svg_text(10, 22, f"Boot profile: {p['label']}", size=15, weight="bold"),
		svg_text(10, 40, f"{p['method']}; total {p['total_ms']:.3f} ms; bars on a log scale", size=11)]
	body += timeline_strip(phases, 50, width)
	y = 90
	for ph in phases:
		colour = CATEGORY_COLOURS[ph["category"]]
		body.append(svg_text(10, y + 14, ph["label"], size=12))
		body.append(f'<rect x="{LABEL_W}" y="{y + 3}" width="{bar_width(ph["duration_ms"], widest):.2f}" '
			    f'height="14" fill="{colour}"/>')
		body.append(svg_text(width - 10, y + 14, f"{ph['duration_ms']:.3f} ms", anchor="end"))
		y += ROW_H
	return svg_document(width, y + 10, body)


def load_profile(path):
	try:
		with open(path) as f:
			p = json.load(f)
	except OSError as e:
		raise ProfileError(f"{path}: {e.strerror}")
	except ValueError as e:
		raise ProfileError(f"{path}: not a profile ({e})")
	if not isinstance(p, dict) or p.get("format") != FORMAT_VERSION or "phases" not in p:
		raise ProfileError(f"{path}: not a version {FORMAT_VERSION} boot profile")
	return p


def delta_percent(a, b):
	return None if a == 0 else round((b - a) * 100.0 / a, 3)


def compare(a, b):
	names = [ph["name"] for ph in a["phases"]]
	names += [ph["name"] for ph in b["phases"] if ph["name"] not in names]
	by_a = {ph["name"]: ph for ph in a["phases"]}
	by_b = {ph["name"]: ph for ph in b["phases"]}
	rows = []
	for name in names:
		pa, pb = by_a.get(name), by_b.get(name)
		ms_a = pa["duration_ms"] if pa else 0.0
		ms_b = pb["duration_ms"] if pb else 0.0
		rows.append({
			"name": name,
			"label": (pa or pb)["label"],
			"category": (pa or pb)["category"],
			"a_ms": ms_a,
			"b_ms": ms_b,
			"delta_ms": round(ms_b - ms_a, 3),
			"delta_percent": delta_percent(ms_a, ms_b),
		})
	calls_a = {c["name"]: c["usecs"] for c in a["initcalls"]}
	calls_b = {c["name"]: c["usecs"] for c in b["initcalls"]}
	changed = []
	for name in sorted(set(calls_a) | set(calls_b)):
		d = calls_b.get(name, 0) - calls_a.get(name, 0)
		if d:
			changed.append({"name": name, "a_usecs": calls_a.get(name), "b_usecs": calls_b.get(name),
					"delta_usecs": d})
	changed.sort(key=lambda c: -abs(c["delta_usecs"]))
	return {
		"format": FORMAT_VERSION,
		"a": a["label"],
		"b": b["label"],
		"phases": rows,
		"total": {"a_ms": a["total_ms"], "b_ms": b["total_ms"],
			  "delta_ms": round(b["total_ms"] - a["total_ms"], 3),
			  "delta_percent": delta_percent(a["total_ms"], b["total_ms"])},
		"initcall_changes": changed[:20],
	}


def percent_text(p):
	return "n/a" if p is None else f"{p:+.3f}%"


def compare_text(c):
	out = [f"A: {c['a']}", f"B: {c['b']}", ""]
	out.append(f"{'phase':<52} {'A ms':>11} {'B ms':>11} {'B-A ms':>11} {'B-A':>9}")
	for r in c["phases"] + [dict(c["total"], label="total")]:
		out.append(f"{r['label']:<52} {r['a_ms']:>11.3f} {r['b_ms']:>11.3f} {r['delta_ms']:>+11.3f} "
			   f"{percent_text(r['delta_percent']):>9}")
	if c["initcall_changes"]:
		out += ["", "initcalls that changed most (us):"]
		for ch in c["initcall_changes"][:10]:
			out.append(f"  {ch['delta_usecs']:>+9}  {ch['name']} ({ch['a_usecs']} -> {ch['b_usecs']})")
	return "\n".join(out) + "\n"


def compare_svg(c):
	width = LABEL_W + BAR_W + VALUE_W
	widest = max([r["a_ms"] for r in c["phases"]] + [r["b_ms"] for r in c["phases"]])
	body = [svg_text(10, 22, "Boot profile comparison (bars on a log scale)", size=15, weight="bold"),
		'<rect x="10" y="32" width="12" height="10" fill="#3f6fb5"/>',
		svg_text(28, 42, f"A: {c['a']}", size=11),
		'<rect x="10" y="48" width="12" height="10" fill="#e07a1f"/>',
		svg_text(28, 58, f"B: {c['b']}", size=11)]
	y = 72
	for r in c["phases"]:
		body.append(svg_text(10, y + 16, r["label"], size=12))
		body.append(f'<rect x="{LABEL_W}" y="{y + 3}" width="{bar_width(r["a_ms"], widest):.2f}" '
			    f'height="10" fill="#3f6fb5"/>')
		body.append(f'<rect x="{LABEL_W}" y="{y + 15}" width="{bar_width(r["b_ms"], widest):.2f}" '
			    f'height="10" fill="#e07a1f"/>')
		body.append(svg_text(width - 10, y + 16,
				     f"{r['delta_ms']:+.3f} ms ({percent_text(r['delta_percent'])})", anchor="end"))
		y += ROW_H + 8
	return svg_document(width, y + 10, body)


def write_outputs(outdir, stem, data, text, svg):
	os.makedirs(outdir, exist_ok=True)
	write_atomic(os.path.join(outdir, f"{stem}.json"), json.dumps(data, indent=1) + "\n")
	write_atomic(os.path.join(outdir, f"{stem}.txt"), text)
	write_atomic(os.path.join(outdir, f"{stem}.svg"), svg)
	sys.stdout.write(text)


def option(args, name, default):
	if name in args:
		i = args.index(name)
		if i + 1 >= len(args):
			raise ProfileError(f"{name} needs a value")
		value = args[i + 1]
		del args[i:i + 2]
		return value
	return default


def main(argv):
	args = argv[1:]
	try:
		if args[:1] == ["analyze"]:
			label = option(args, "--label", "boot")
			method = option(args, "--method", "unknown")
			if len(args) != 4:
				raise ProfileError("usage: boot_report.py analyze CONSOLE SYMBOLS OUTDIR [--label L] [--method M]")
			p = analyze(args[1], args[2], label, method)
			write_outputs(args[3], "profile", p, text_report(p), profile_svg(p))
		elif args[:1] == ["compare"] and len(args) == 4:
			c = compare(load_profile(args[1]), load_profile(args[2]))
			write_outputs(args[3], "compare", c, compare_text(c), compare_svg(c))
		else:
			raise ProfileError("usage: boot_report.py analyze CONSOLE SYMBOLS OUTDIR | compare A.json B.json OUTDIR")
	except ProfileError as e:
		print(f"agentbox: error: {e}", file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv))
