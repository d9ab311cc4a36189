/** Where an optimiser keeps its per-parameter buffers ("slots": Adam's moments, SGD's momentum). */
export interface SlotStore {
  readonly names: readonly string[];
  /** A copy of slot `name` of the k-th trained parameter. */
  read(name: string, k: number): Float32Array;
  /** Overwrites slot `name` of the k-th trained parameter; `data` has that parameter's length. */
  write(name: string, k: number, data: Float32Array): void;
}

/** Slots as plain zero-initialised Float32Arrays, for updates written in JavaScript. */
export class ArraySlots implements SlotStore {
  readonly names: readonly string[];
  /** buffers.get(name)[k] is slot `name` of the k-th parameter. */
  readonly buffers: ReadonlyMap<string, readonly Float32Array[]>;

  constructor(names: readonly string[], sizes: readonly number[]) {
    this.names = names;
    this.buffers = new Map(names.map((name) => [name, sizes.map((size) => new Float32Array(size))]));
  }

  read(name: string, k: number): Float32Array {
    return this.buffers.get(name)![k]!.slice();
  }

  write(name: string, k: number, data: Float32Array): void {
    this.buffers.get(name)![k]!.set(data);
  }
}
