import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useWorkbench, type WorkbenchState } from '../store/store.js';

/**
 * A store value that re-renders its component at most once per animation frame. For the high-rate
 * metric stream: the store may change 20 times a second, the chart repaints with the display.
 */
export function useFrameValue<T>(selector: (s: WorkbenchState) => T): T {
  const sel = useRef(selector);
  sel.current = selector;
  const [value, setValue] = useState(() => selector(useWorkbench.getState()));
  useEffect(() => {
    let frame = 0;
    let last = sel.current(useWorkbench.getState());
    setValue(() => last);
    const off = useWorkbench.subscribe((s) => {
      const next = sel.current(s);
      if (Object.is(next, last)) return;
      last = next;
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          setValue(() => last);
        });
    });
    return () => {
      off();
      if (frame) cancelAnimationFrame(frame);
    };
  }, []);
  return value;
}

/**
 * The element's size, tracked with a ResizeObserver. Returns a callback ref, so an element that mounts
 * later (after an early return) is still measured.
 */
export function useSize<T extends HTMLElement>(): [(el: T | null) => void, { width: number; height: number }] {
  const [el, setEl] = useState<T | null>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  useLayoutEffect(() => {
    if (!el) return;
    const measure = () => {
      const r = el.getBoundingClientRect();
      const next = { width: Math.round(r.width), height: Math.round(r.height) };
      setSize((s) => (s.width === next.width && s.height === next.height ? s : next));
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [el]);
  return [setEl, size];
}
