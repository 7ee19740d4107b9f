"""Report -> Markdown, CSV and LaTeX (booktabs). Numbers in, text out; no model code."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from tabulate import tabulate

from sftbench.leaderboard.report import flat_rows, sorted_rows
from sftbench.leaderboard.stats import Comparison, Estimate, Report, TableStats

def num(x: float | None, fmt: str = ".1f") -> str:
    return "—" if x is None else format(x, fmt)


def ci(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f"[{lo:.1f}, {hi:.1f}]"


def signed(x: float) -> str:
    """+1.2 / -1.2, and 0.0 for values that round to zero (no "-0.0")."""
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def pval(p: float | None) -> str:
    return "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def estimate(e: Estimate) -> str:
    return f"{e.estimate:.1f} {ci(e.ci_low, e.ci_high)}".strip()


def judge_label(judge: dict[str, Any]) -> str:
    return f"{judge.get('provider', '?')}/{judge.get('model', '?')}"


def title(t: TableStats) -> str:
    return f"{t.base_model} · {t.benchmark}"


def noise_text(report: Report) -> str:
    nf = report.noise_floor
    if not nf or not nf.get("n"):
        return "Judge noise floor: not measured (no noise-floor step in this run, or nothing re-judged)."
    if nf.get("deterministic"):
        return (f"Judge noise floor: 0 — re-judging {nf['n']} stored annotations gave identical preferences "
                "(a deterministic judge adds no noise).")
    return (f"Judge noise floor: re-judging {nf['n']} stored annotations moved preferences by sd "
            f"{nf['sd_delta']:.3f} (winner flipped in {nf['flip_rate'] * 100:.0f}%); the judge noise ± column is "
            "the 95% band of a win-rate difference produced by judge sampling alone.")


def settings_text(report: Report) -> str:
    s = report.settings
    return (f"95% CIs: bootstrap over prompts ({s.n_bootstrap} resamples; LC: {s.n_bootstrap_lc} GLM refits), "
            f"hierarchical over seeds when several; paired tests with Holm correction per table at alpha "
            f"{s.alpha:g}; {s.n_permutations} sign-flip permutations; RNG seed {s.seed}.")


def _comparison_cells(c: Comparison | None) -> list[str]:
    if c is None:
        return ["reference", "", ""]
    return [f"{signed(c.diff)} {ci(c.ci_low, c.ci_high)}".strip(), pval(c.p_adjusted), c.verdict]


def openllm_tasks(rows: list[Any]) -> list[str]:
    """lm-eval columns present in a table (the average last)."""
    tasks = sorted({task for r in rows for task in r.info.get("openllm", {})})
    return [t for t in tasks if t != "average"] + (["average"] if "average" in tasks else [])


def openllm_cell(row: Any, task: str) -> str:
    score = row.info.get("openllm", {}).get(task)
    if not score:
        return ""
    return num(score["value"]) + (f" ± {num(score['se'])}" if score.get("se") is not None else "")


def mt_bench_cell(row: Any) -> str:
    score = row.info.get("mt_bench")
    if not score:
        return ""
    text = num(score["value"], ".2f") + (f" ± {num(score['se'], '.2f')}" if score.get("se") is not None else "")
    return text + (f" ({score['n_unparsed']} unparsed)" if score.get("n_unparsed") else "")


def wildbench_cells(row: Any, reward: bool) -> list[str]:
    """WB-Score (± SE over seeds, unparsed count) and, when `reward`, the WB-Reward mixture."""
    wb = row.info.get("wildbench")
    if not wb:
        return [""] * (1 + reward)
    text = num(wb.get("value")) + (f" ± {num(wb['se'])}" if wb.get("se") is not None else "")
    cells = [text + (f" ({wb['n_unparsed']}/{wb['n']} unparsed)" if wb.get("n_unparsed") else "")]
    if reward:
        text = num(wb.get("reward")) + (f" ± {num(wb['reward_se'])}" if wb.get("reward_se") is not None else "")
        cells.append(text + (f" ({wb['reward_n_unparsed']} unparsed)" if wb.get("reward_n_unparsed") else "")
                     if "reward" in wb else "")
    return cells


def wildbench_columns(rows: list[Any]) -> tuple[bool, bool]:
    """(any WildBench score, any WB-Reward) among a table's rows."""
    wb = [r.info["wildbench"] for r in rows if r.info.get("wildbench")]
    return bool(wb), any("reward" in w for w in wb)


def to_markdown(report: Report) -> str:
    parts = [f"# Leaderboard: {report.suite}\n"]
    for t in report.tables:
        rows = sorted_rows(t, report.settings.sort_by)
        extra = openllm_tasks(rows)
        mt = any(r.info.get("mt_bench") for r in rows)
        wb, wb_reward = wildbench_columns(rows)
        body = [[r.dataset, r.info.get("builder") or "", r.info.get("size") or "", num(r.info.get("train_resp_words")),
                 len(r.seeds), estimate(r.metrics["win_rate"]), estimate(r.metrics["lc_win_rate"]),
                 f"{r.avg_output_chars:.0f}", *[openllm_cell(r, task) for task in extra],
                 *([mt_bench_cell(r)] if mt else []), *(wildbench_cells(r, wb_reward) if wb else [])] for r in rows]
        headers = ["dataset", "builder", "rows", "train resp. words", "seeds", "win rate % [95% CI]",
                   "LC win rate % [95% CI]", "avg output chars", *[f"OpenLLM {task} % (± SE)" for task in extra],
                   *(["MT-Bench (1-10)"] if mt else []), *(["WB-Score"] if wb else []),
                   *(["WB-Reward (mix)"] if wb_reward else [])]
        parts.append(f"## {title(t)}\n\n{tabulate(body, headers=headers, tablefmt='github', disable_numparse=True)}\n")
        parts.append(f"Baseline: {t.baseline}; judge: {judge_label(t.judge)}; {t.n_prompts} eval prompts; "
                     f"seeds per dataset: {max(len(r.seeds) for r in t.rows)}.\n")
        if t.reference and t.comparisons:
            comps = {(c.dataset, c.metric): c for c in t.comparisons}
            body = [[r.dataset, *_comparison_cells(comps.get((r.dataset, "win_rate"))),
                     num(getattr(comps.get((r.dataset, "win_rate")), "noise_floor", None)),
                     *_comparison_cells(comps.get((r.dataset, "lc_win_rate")))] for r in rows]
            headers = ["dataset", "Δ win rate [95% CI]", "p (Holm)", "verdict", "judge noise ±",
                       "Δ LC win rate [95% CI]", "p (Holm)", "verdict"]
            parts.append(f"### Paired comparisons against `{t.reference}` (points)\n\n"
                         f"{tabulate(body, headers=headers, tablefmt='github', disable_numparse=True)}\n")
        parts += [f"Note: {n}.\n" for n in t.notes]
    parts += [noise_text(report) + "\n", settings_text(report) + "\n"]
    return "\n".join(parts)


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    pd.DataFrame(flat_rows(report, report.settings.sort_by)).to_csv(buf, index=False, float_format="%.4f")
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: Any) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def _tex_estimate(e: Estimate, best: bool) -> str:
    value = f"\\textbf{{{e.estimate:.1f}}}" if best else f"{e.estimate:.1f}"
    return value + (f"{{\\scriptsize\\,[{e.ci_low:.1f}, {e.ci_high:.1f}]}}" if e.ci_low is not None else "")


def _tex_diff(c: Comparison | None) -> str:
    if c is None:
        return "ref."
    mark = {"better": "^{\\uparrow}", "worse": "^{\\downarrow}"}.get(c.verdict, "")
    return f"${signed(c.diff)}{mark}$" + (f"{{\\scriptsize\\,[{signed(c.ci_low)}, {signed(c.ci_high)}]}}"
                                         if c.ci_low is not None and c.ci_high is not None else "")


def to_latex(report: Report) -> str:
    """One booktabs table per base model x benchmark; best value per column bold; CIs in small text."""
    out = [f"% sftbench leaderboard: {tex(report.suite)} (needs \\usepackage{{booktabs}})"]
    for t in report.tables:
        rows = sorted_rows(t, report.settings.sort_by)
        best = {m: max(r.metrics[m].estimate for r in rows) for m in ("win_rate", "lc_win_rate")}
        comps = {(c.dataset, c.metric): c for c in t.comparisons}
        out += ["\\begin{table}[t]", "\\centering", "\\small", "\\begin{tabular}{lrrrrrr}", "\\toprule",
                "Dataset & Rows & Win rate (\\%) & LC win rate (\\%) & $\\Delta$ WR & $\\Delta$ LC & Avg.\\ chars \\\\",
                "\\midrule"]
        for r in rows:
            cells = [tex(r.dataset), str(r.info.get("size") or ""),
                     _tex_estimate(r.metrics["win_rate"], r.metrics["win_rate"].estimate == best["win_rate"]),
                     _tex_estimate(r.metrics["lc_win_rate"], r.metrics["lc_win_rate"].estimate == best["lc_win_rate"]),
                     _tex_diff(comps.get((r.dataset, "win_rate"))) if t.reference else "",
                     _tex_diff(comps.get((r.dataset, "lc_win_rate"))) if t.reference else "",
                     f"{r.avg_output_chars:.0f}"]
            out.append(" & ".join(cells) + " \\\\")
        ref = "" if not t.reference else (
            f" $\\Delta$: difference to {tex(t.reference)} in points with 95\\% CI; "
            f"$^{{\\uparrow}}$/$^{{\\downarrow}}$: significantly better/worse (paired tests, Holm, "
            f"$\\alpha={report.settings.alpha:g}$).")
        out += ["\\bottomrule", "\\end{tabular}",
                f"\\caption{{{tex(t.base_model)} -- {tex(t.benchmark)}: AlpacaEval-style win rates against "
                f"{tex(t.baseline)} judged by {tex(judge_label(t.judge))} on {t.n_prompts} prompts; 95\\% bootstrap "
                f"CIs in brackets.{ref}}}",
                "\\end{table}", ""]
    return "\n".join(out)
