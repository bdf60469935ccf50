"""``report.md`` of a bench run: tables of every section run, the command, the commit, the machine."""

from __future__ import annotations

from pathlib import Path

from memres.pygen.bench.plots import plots
from memres.sw_model.atomic import atomic_write_text

__all__ = ["write_report"]


def _num(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v if v is not None
                                                                                            else "-")


def _pct(v) -> str:
    return f"{100 * v:.2f} %" if isinstance(v, (int, float)) else str(v if v is not None else "-")


def _rtl_text(r: dict | None, metric: str) -> str:
    if not r:
        return "not run"
    if not r["passed"]:
        return f"**MISMATCH** ({r['mismatches']} after {r['cycles']:,} clocks)"
    text = (f"bit-exact on {r['sequences']} sequence(s), {r['frames']:,} frames, {r['compared']:,} values "
            f"({r['cycles']:,} clocks)")
    if "accuracy" in r:
        text += (f"; RTL accuracy on them {_pct(r['accuracy'])}, decisions "
                 f"{'equal to' if r['matches_integer_model'] else 'DIFFERENT FROM'} the integer model's")
    return text


def write_report(out: Path, results: dict) -> Path:
    """Write ``report.md`` and the PNG plots from ``results`` (any subset of sections)."""
    made = plots(out, results)
    results["plots"] = [str(p.name) for p in made]
    L = ["# memres bench", ""]
    m, g = results["machine"], results["git"]
    L += [f"Command: `{results['command']}`", "",
          f"Commit: `{g.get('commit')}`" + (" (with uncommitted changes)" if g.get("dirty") else ""), "",
          f"Machine: {m['cpus']} CPU(s), {m['cpu_model']}, {m['system']}, Python {m['python']}, numpy {m['numpy']}, "
          f"reservoirpy {m['reservoirpy']}; load average at the start {m.get('load_average')}; {m['date']}.", ""]
    if results["settings"].get("quick"):
        L += ["**Quick run** (`--quick`): tiny settings for a smoke test; these are not results.", ""]
    sec = results["sections"]
    for name, md in (("accuracy", lambda: _accuracy_md(sec["accuracy"])),
                     ("speed", lambda: _speed_md(sec["speed"], sec.get("hardware"))),
                     ("hardware", lambda: _hardware_md(sec["hardware"]))):
        if name in sec:
            body = md()
            L += body[:2] + _measured_md(sec[name].get("measured"), results["command"]) + body[2:]
    if made:
        L += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in made] + [""]
    return atomic_write_text(out / "report.md", "\n".join(L) + "\n")


def _measured_md(m: dict | None, command: str) -> list[str]:
    if not m:
        return []
    text = f"Measured {m['date']}, load average {m.get('load_average')} at the start, {m.get('load_average_end')} at the end"
    if m.get("command") != command:
        text += f", by an earlier run: `{m['command']}` (commit `{(m.get('commit') or '')[:10]}`)"
    return [text + ".", ""]


def _accuracy_md(a: dict) -> list[str]:
    L = ["## Accuracy", "",
         "Float and integer: the golden models (`sw_model`). RTL: the generated Verilog simulated on Verilator "
         "for a sample of the test data and compared with the integer model on every clock. ESN: a reservoirpy "
         "echo state network in place of the memristive reservoir, on the same inputs, splits, readout and "
         "lambda selection.", "",
         "| task | split | configuration | metric | float | integer | ESN | RTL (sample) |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in a["rows"]:
        f = _pct if r["metric"] == "accuracy" else (lambda v: _num(v, ".4f"))
        L.append(f"| {r['label']} | {r['split']} ({r['n_test']} {'utterances' if r['task'] == 'fsdd' else 'steps'})"
                 f" | {r['config']} | {'accuracy' if r['metric'] == 'accuracy' else 'NRMSE'} | {f(r['float'])} | "
                 f"{f(r['fixed'])} | {f(r['esn'])} | "
                 f"{_rtl_text(r.get('rtl'), r['metric']) if r['split'] != 'loso' else 'same core as standard'} |")
    L.append("")
    configs = {r["split"]: r["config"] for r in a["rows"] if r["task"] == "fsdd"}
    if "loso" in configs and configs["loso"] != configs.get("standard"):
        L += [f"FSDD leave-one-speaker-out ran on another configuration ({configs['loso']}) than the standard "
              f"split ({configs.get('standard')}), to keep its six trainings short (`--loso-config`).", ""]
    esn_params = {r["task"]: r.get("esn_params") for r in a["rows"] if r.get("esn_params")}
    if esn_params:
        L += ["ESN settings (reservoirpy `Reservoir`, tanh, ridge readout on its states): " +
              "; ".join(f"{k}: {v['units']} units, spectral radius {v['sr']}, leak {v['lr']}, input scaling "
                        f"{v['input_scaling']}" for k, v in esn_params.items()) +
              ". Time series: the candidate with the best validation NRMSE of a 3-point grid. "
              "With read noise the ESN's states get the same relative noise. For NARMA10 the ESN uses 200-500 "
              "units against the reservoir's N x ML features.", ""]
    if a.get("early"):
        L += ["### Early recognition (FSDD standard split, accuracy after a fraction of each utterance)", "",
              "| fraction | float | integer | ESN |", "| --- | --- | --- | --- |"]
        for e in a["early"]:
            L.append(f"| {e['fraction']:.0%} | {_pct(e['float'])} | {_pct(e['fixed'])} | {_pct(e['esn'])} |")
        L.append("")
    for r in a["rows"]:
        if r["split"] == "loso":
            L += ["### Leave-one-speaker-out per speaker", "", "| speaker | float | integer | ESN |",
                  "| --- | --- | --- | --- |"]
            for sp, v in r["per_speaker"].items():
                L.append(f"| {sp} | {_pct(v['float'])} | {_pct(v['fixed'])} | {_pct(v.get('esn', r['esn']))} |")
            L.append("")
    L += [f"Section time: {a['seconds']:.0f} s.", ""]
    return L


def _speed_md(sp: dict, hw: dict | None) -> list[str]:
    gs = sp["golden"]
    L = ["## Speed", "",
         f"Golden model: N={gs['devices']}, ML={gs['virtual_nodes']}, a batch of {gs['batch']} random sequences of "
         f"{gs['frames'] // gs['batch']} frames x {gs['channels']} channels (the FSDD front-end's shape); best of "
         "the repeats. ESN: reservoirpy, same input.", "",
         "| system | frames/s |", "| --- | --- |",
         f"| float golden model ({gs.get('backend', 'numpy')}, batched) | {_num(gs['float_frames_per_s'], ',.0f')} |",
         f"| integer golden model ({gs.get('backend', 'numpy')}, int64) | {_num(gs['fixed_frames_per_s'], ',.0f')} |",
         f"| reservoirpy ESN, {gs['esn_units']} units | {_num(gs['esn_frames_per_s'], ',.0f')} |", ""]
    if "rtl" in sp:
        r, gen = sp["rtl"], sp["generate"]
        L += ["| step | figure |", "| --- | --- |",
              f"| Verilog generation, {gen['task']} default (N={gen['n_devices']}, ML={gen['n_virtual']}), "
              f"{gen['lanes']} lanes | {gen['seconds']:.1f} s |",
              f"| RTL simulation, checked every clock (Verilator, {r['task']} core, {r['lanes']} lanes) | "
              f"{r['cycles_per_second']:,.0f} clocks/s ({r['cycles']:,} clocks, {r['compared']:,} values, "
              f"{'pass' if r['passed'] else 'MISMATCH'}) |",
              f"| Verilator build of that core | {r['build_seconds']:.1f} s"
              f"{' (cached)' if r['build_cached'] else ''} |"]
        if hw and hw.get("rows"):
            for h in hw["rows"]:
                L.append(f"| bitstream build, {h['board']}, {h['lanes']} lane(s) | {h['seconds']:.0f} s"
                         f"{' (reused)' if h.get('reused') else ''} |")
        else:
            L.append("| bitstream build | not run in this bench (see the hardware section / docs/boards.md) |")
        L.append("")
    L += [f"Section time: {sp['seconds']:.0f} s.", ""]
    return L


def _hardware_md(hw: dict) -> list[str]:
    L = ["## Hardware", ""]
    if not hw["rows"]:
        return L + ["No boards built (`--boards none`); docs/boards.md has the measured builds.", ""]
    L += [f"Source: `{hw['source']}`.", ""]
    L += ["| board | lanes | fits / meets clock | clock (MHz) | Fmax (MHz) | utilisation | clocks/frame | "
          "frames/s | real-time factor | build |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for h in hw["rows"]:
        util = ", ".join(f"{k} {v}" if not isinstance(v, dict) else f"{k} {v.get('used')}/{v.get('available')}"
                         for k, v in (h.get("utilisation") or {}).items())
        ok = "yes" if h["ok"] else f"no: {h.get('error', '')[:120]}"
        L.append(f"| {h['board']} | {h['lanes']} | {ok} | {_num(h.get('clock_mhz'), '.1f')} | "
                 f"{_num(h.get('fmax_mhz'), '.2f')} | {util or '-'} | {_num(h.get('cycles_per_frame'), 'd')} | "
                 f"{_num(h.get('frames_per_s'), ',.0f')} | {_num(h.get('realtime_factor'), '.3g')} | "
                 f"{h['seconds']:.0f} s{' (reused)' if h.get('reused') else ''} |")
    return L + [""]

