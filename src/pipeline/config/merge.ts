/**
 * `extends:` semantics: a child file is laid over its parent. Objects merge key by key, arrays and
 * scalars replace (a list of rewards is one decision, not items to splice), and null resets a key
 * to the schema default by removing it.
 */

export type Path = ReadonlyArray<string | number>;

/** One pipeline file's content, without its `extends`. */
export interface FileLayer {
  readonly file: string;
  readonly content: Readonly<Record<string, unknown>>;
}

export const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Keys are defined, never assigned: assigning `__proto__` would set the object's prototype and drop the
 * key, so a `__proto__:` in a file would vanish instead of being refused as an unknown key.
 */
const setOwn = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
};

const mergeLayer = (parent: Readonly<Record<string, unknown>>, child: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const merged: Record<string, unknown> = { ...parent };
  for (const [key, value] of Object.entries(child)) {
    const inherited = Object.hasOwn(merged, key) ? merged[key] : undefined;
    if (value === null) delete merged[key];
    else if (isPlainObject(value) && isPlainObject(inherited)) setOwn(merged, key, mergeLayer(inherited, value));
    else setOwn(merged, key, value);
  }
  return merged;
};

/** Layers ordered from the furthest ancestor to the file that was loaded. */
export const mergeLayers = (layers: ReadonlyArray<FileLayer>): Record<string, unknown> =>
  layers.reduce<Record<string, unknown>>((merged, layer) => mergeLayer(merged, layer.content), {});

export const valueAt = (root: unknown, path: Path): { readonly present: boolean; readonly value?: unknown } => {
  let current: unknown = root;
  for (const key of path) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, key)) return { present: false };
    current = (current as Record<string | number, unknown>)[key];
  }
  return { present: true, value: current };
};

/**
 * The file a merged value came from: the nearest layer that sets it (arrays replace whole, so their
 * items belong to the layer that set the array). A value no layer sets is a default of the loaded file.
 */
export const originOf = (layers: ReadonlyArray<FileLayer>, path: Path): string => {
  for (let i = layers.length - 1; i >= 0; i--) {
    if (valueAt(layers[i]!.content, path).present) return layers[i]!.file;
  }
  return layers[layers.length - 1]!.file;
};
