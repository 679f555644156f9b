import { LineChart, type Series } from '../charts/LineChart.js';
import { useFrameValue } from '../components/hooks.js';
import { strategyCharts } from '../runs/strategySeries.js';
import { useWorkbench } from '../store/store.js';

const COLORS = ['var(--series-1)', 'var(--series-2)', 'var(--series-3)', 'var(--series-4)', '#b07aa1', '#9c755f'];
const GROUP_TITLES: Record<string, string> = { sampling: 'Path sampling distribution' };

/**
 * What the training strategy reports about itself over the run (PA&DA's sampling distribution per arch
 * position, OFA's phase…), one small chart per reported key; nothing for strategies that report nothing.
 */
export function StrategyPanel() {
  const metrics = useFrameValue((s) => s.metrics);
  const xAxis = useWorkbench((s) => s.chartX);
  const charts = strategyCharts(metrics, xAxis === 'time' ? (p) => p.time : (p) => p.step);
  if (charts.length === 0) return null;
  return (
    <details open className="panel" data-testid="strategy-panel">
      <summary>Training strategy</summary>
      <div className="chart-grid">
        {charts.map((c) => {
          const series: Series[] = c.lines.map((l, i) => ({ label: l.label, color: COLORS[i % COLORS.length]!, points: l.points }));
          const title = c.group ? `${GROUP_TITLES[c.group] ?? c.group}: ${c.title}` : c.title;
          return <LineChart key={c.key} title={title} series={series} height={140} allowLog={false} testId={`strategy-chart-${c.key}`} xLabel={xAxis === 'time' ? 'wall time' : 'step'} xIsTime={xAxis === 'time'} />;
        })}
      </div>
    </details>
  );
}
