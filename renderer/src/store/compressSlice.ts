/** The open run's latest compression result (the Compress panel writes it; the Pareto view overlays its points). */
import type { StateCreator } from 'zustand';
import type { CompressResult } from '../../../core/protocol/protocol.js';

export interface CompressSlice {
  compressResult: CompressResult | null;
  setCompressResult(r: CompressResult | null): void;
}

export const createCompressSlice: StateCreator<CompressSlice, [], [], CompressSlice> = (set) => ({
  compressResult: null,
  setCompressResult: (r) => set({ compressResult: r }),
});
