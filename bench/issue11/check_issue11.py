"""Independent check of the issue-11 figures stored in this folder (scipy, not the workbench's code):
Kendall tau-b / Spearman rho of rank.json, the latency table's held-out MAPE and tau, each search's
in-search latency error, and the Wilson 95 % intervals of the run's validation and test accuracy.

    python3 bench/issue11/check_issue11.py
"""
import glob, itertools, json, os
from scipy.stats import binomtest, kendalltau, spearmanr

here = os.path.dirname(os.path.abspath(__file__))
load = lambda p: json.load(open(os.path.join(here, p)))
close = lambda a, b: abs(a - b) < 1e-9

r = load('rank.json')
subs = [s for s in r['subnets'] if s['standaloneMean'] is not None]
inh, sa = [s['inherited']['accuracy'] for s in subs], [s['standaloneMean'] for s in subs]
tau, rho = kendalltau(inh, sa).statistic, spearmanr(inh, sa).statistic
seeds = sorted({x['seed'] for s in subs for x in s['standalone']})
acc = lambda seed: [next(x['accuracy'] for x in s['standalone'] if x['seed'] == seed) for s in subs]
floor = [kendalltau(acc(a), acc(b)).statistic for a, b in itertools.combinations(seeds, 2)]
print(f"rank: n={len(subs)} tau-b {tau:.4f} (stored {r['kendallTau']:.4f}) rho {rho:.4f} (stored {r['spearmanRho']:.4f}) "
      f"noise floor {[round(float(x), 4) for x in floor]} (stored {[round(x, 4) for x in r['seedTaus']]})", 'OK' if close(tau, r['kendallTau']) and close(rho, r['spearmanRho']) and all(map(close, floor, r['seedTaus'])) else 'MISMATCH')

t = load('latency-table-cpu.json')
pred = [t['interceptMs'] + sum(n * t['entries'][k] for k, n in s['usage'].items()) for s in t['heldOut']]
meas = [s['ms'] for s in t['heldOut']]
mape = 100 * sum(abs(p - m) / m for p, m in zip(pred, meas)) / len(meas)
ktau = kendalltau(pred, meas).statistic
c = t['check']
print(f"latency table ({t['backend']}, batch {t['batchSize']}): fit {len(t['fit'])}, held-out {len(meas)}: MAPE {mape:.3f} % tau-b {ktau:.4f} "
      f"(stored {c['mapePct']:.3f} %, {c['tau']:.4f})", 'OK' if close(mape, c['mapePct']) and close(ktau, c['tau']) else 'MISMATCH')

for f in sorted(glob.glob(os.path.join(here, 'searches', '2*.json'))):
    s = json.load(open(f))
    ev = [e for e in s['evaluated'] if 'latencyLutMs' in e]
    p, m = [e['latencyLutMs'] for e in ev], [e['latencyMs'] for e in ev]
    e_pct = 100 * sum(abs(a - b) / b for a, b in zip(p, m)) / len(m)
    lt = kendalltau(p, m).statistic
    lm = s['latencyModel']
    print(f"search {s['id']}: {len(ev)} subnets, in-search MAPE {e_pct:.2f} % tau-b {lt:.3f} (stored {s['lutErrorPct']:.2f}, {s['lutTau']:.3f}); "
          f"model check ({'stored table' if lm['fromCache'] else 'fitted'}) MAPE {lm['mapePct']:.2f} % tau {lm['tau']:.3f} n={lm['n']}; "
          f"accuracy split {ev[0].get('split')} n={ev[0].get('n')}", 'OK' if close(e_pct, s['lutErrorPct']) and close(lt, s['lutTau']) else 'MISMATCH')

run = load('run.json')['summary']
for key in ('finalVal', 'test'):
    e = run[key]
    k = round(e['accuracy'] * e['n'])
    ci = binomtest(k, e['n']).proportion_ci(0.95, method='wilson')
    print(f"{e['split']}: {100 * e['accuracy']:.2f} % of n={e['n']}, Wilson 95 % [{ci.low:.4f}, {ci.high:.4f}] (stored [{e['ci95'][0]:.4f}, {e['ci95'][1]:.4f}])",
          'OK' if close(ci.low, e['ci95'][0]) and close(ci.high, e['ci95'][1]) else 'MISMATCH')
