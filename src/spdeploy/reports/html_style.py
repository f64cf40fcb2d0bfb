"""The status page's one style sheet, inline in every page (no external assets): colour with
a word beside it, cards on a phone (worst first), black and white in print."""

from __future__ import annotations

STYLE = """
:root { color-scheme: light; --fg: #1b1b1b; --muted: #4a4a4a; --line: #c4c4c4;
  --bad: #a4001d; --bad-bg: #fdecee; --good: #1a5e20; --good-bg: #e8f4e9; --warn: #7a4100;
  --neutral: #595959; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 75rem; padding: 1rem; color: var(--fg); background: #fff;
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.3rem; margin: 0 0 .5rem; }
h3 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
h4 { font-size: 1rem; margin: 1rem 0 .25rem; }
p, dd, td, tbody th, li, h2, h4 { overflow-wrap: anywhere; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono",
  monospace; font-size: .9em; }
.report { border-bottom: .3rem solid var(--neutral); padding-bottom: .75rem; }
.report.bad { border-color: var(--bad); }
.report.good { border-color: var(--good); }
.overall { font-size: 1.15rem; margin: .25rem 0; }
.muted, .name, .log { color: var(--muted); }
.name, .log { display: block; font-size: .9em; font-weight: 400; }
.badge { display: inline-block; padding: .05em .45em; border-radius: .25em; color: #fff;
  background: var(--neutral); font-weight: 700; font-size: .85em; white-space: nowrap; }
.badge.bad { background: var(--bad); }
.badge.good { background: var(--good); }
.badge.warn { background: var(--warn); }
nav ul { margin: .5rem 0 0; padding-left: 1.2rem; }
a { color: #0b4f9c; }
section.target { margin: 1.5rem 0 2.5rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem;
  margin: .5rem 0; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.finding { margin: 1rem 0; padding: .75rem 1rem; border: 2px solid var(--bad);
  border-left-width: .6rem; background: var(--bad-bg); }
.finding h3 { margin: 0 0 .35rem; color: var(--bad); }
.finding p { margin: .25rem 0; }
.finding.reboot { border-color: var(--warn); }
.finding.reboot h3 { color: var(--warn); }
.suite-ok { margin: 1rem 0; padding: .5rem 1rem; border-left: .6rem solid var(--good);
  background: var(--good-bg); }
table { width: 100%; border-collapse: collapse; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 700; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem;
  border-bottom: 1px solid var(--line); }
thead th { border-bottom: 2px solid var(--fg); white-space: nowrap; }
.nw { white-space: nowrap; }
tbody th { font-weight: 600; }
tr.missing-on-media { background: var(--bad-bg); }
.run { margin: 0 0 1.25rem; }
.remedies { margin: .35rem 0 0; padding-left: 1.1rem; }
.reboot-signals { margin: 1rem 0; padding: .5rem 1rem; border-left: .6rem solid var(--warn); }
.run p { margin: .15rem 0; }
.scroll { overflow-x: auto; }
table.matrix tbody th { overflow-wrap: break-word; min-width: 6rem; }
table.matrix td.verdict { min-width: 9rem; }
table.matrix td[data-component] { white-space: nowrap; }
table.matrix td .badge { display: block; width: fit-content; margin-top: .15rem; }
@media (max-width: 600px) {
  body { padding: .6rem; }
  table.matrix td[data-component] { white-space: normal; }
  table.matrix td .badge { display: inline-block; margin: 0 .25rem 0 0; }
  .facts { grid-template-columns: 1fr; }
  .facts dd { margin-bottom: .35rem; }
  table.stack, table.stack tbody, table.stack tr, table.stack th, table.stack td {
    display: block; width: 100%; }
  table.stack caption { display: block; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip-path: inset(50%); white-space: nowrap; }
  table.stack tr { margin: 0 0 .75rem; padding: .25rem .5rem; border: 1px solid var(--line);
    border-radius: .3rem; }
  table.stack td, table.stack tbody th { position: relative; min-height: 1.6rem;
    padding: .2rem 0 .2rem 7.2rem; border: 0; }
  table.stack td::before, table.stack tbody th::before { content: attr(data-label);
    position: absolute; left: 0; width: 6.8rem; font-weight: 600; color: var(--muted); }
  /* one card under another: worst first, as a phone shows little at once */
  table.components tbody { display: flex; flex-direction: column; }
  table.components tr.missing-on-media { order: 1; }
  table.components tr.update { order: 2; }
  table.components tr.current { order: 3; }
  table.components tr.absent { order: 4; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; color: #000; }
  nav { display: none; }
  .scroll { overflow: visible; }
  .badge, .badge.bad, .badge.good, .badge.warn { color: #000; background: none;
    border: 1px solid #000; }
  .finding, .suite-ok, tr.missing-on-media { background: none; }
  .finding { border-color: #000; }
  .finding h3, .muted, .name, .log { color: #000; }
  tr, .finding, .run h4 { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  thead { display: table-header-group; }
}
"""
