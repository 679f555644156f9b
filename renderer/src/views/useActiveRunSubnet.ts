import { useShallow } from 'zustand/react/shallow';
import { useWorkbench } from '../store/store.js';

/** The open run, its record, the subnet picked in the search view (null: the panels use the largest) and whether the core is connected. */
export function useActiveRunSubnet() {
  return useWorkbench(
    useShallow((s) => ({
      runId: s.activeRunId,
      record: s.activeRecord,
      sub: s.evaluated.find((e) => e.id === s.selectedSubnet) ?? null,
      connected: s.connection === 'open',
    })),
  );
}
