/**
 * Once-for-All's network and its teacher (Cai et al., ICLR 2020, §3.2; mit-han-lab/once-for-all
 * train_ofa_net.py builds `args.teacher_model` as the full network and loads the weights trained before
 * progressive shrinking, ofa_D4_E6_K7, into it; progressive_shrinking.train_one_epoch distils every
 * sampled subnet from it and never updates it). Copy 0 is the elastic supernet that trains, with the plain
 * supernet's variable names; copy 1 is the teacher (names `ofa.teacher1/…`), set once by `freezeTeacher`
 * and not trainable, so checkpoints carry it and a resumed run distils from the same fixed network.
 */
import * as tf from '@tensorflow/tfjs';
import { largestArch } from '../space/archCodec.js';
import type { Arch, SearchSpace } from '../space/SearchSpace.js';
import type { ElasticSupernet } from './Supernet.js';
import { SupernetCopies } from './SupernetCopies.js';
import type { ForwardOptions, ForwardResult } from './types.js';

export class OfaSupernet extends SupernetCopies {
  private readonly full: Arch;

  constructor(space: SearchSpace, seed: number) {
    // The teacher's initial values never matter: it is overwritten by freezeTeacher before its first use.
    super(space, [seed, seed], 'ofa.teacher');
    this.full = largestArch(space);
  }

  /** Every subnet trains, scores and exports in copy 0. */
  copyFor(): number {
    return 0;
  }

  get student(): ElasticSupernet {
    return this.copies[0]!;
  }

  get teacher(): ElasticSupernet {
    return this.copies[1]!;
  }

  /** Only the student trains (the teacher is fixed once set). */
  override trainableVariables(): tf.Variable[] {
    return this.student.trainableVariables();
  }

  /** Make the teacher a copy of the student's current weights (called once, at the end of the full phase). */
  freezeTeacher(): void {
    const dst = this.teacher.namedVariables();
    tf.tidy(() => {
      for (const [name, v] of this.student.namedVariables()) dst.get(name)!.assign(v);
    });
  }

  /**
   * The teacher's full network on `x`. OFA runs it in training mode (`teacher_model.train()` under
   * no_grad): BatchNorm normalises with the batch's statistics, so its running statistics, which that
   * mode updates, never reach its logits.
   */
  applyTeacher(x: tf.Tensor, opts: ForwardOptions): ForwardResult {
    return this.teacher.apply(x, this.full, opts);
  }
}
