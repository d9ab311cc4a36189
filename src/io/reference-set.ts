/**
 * Reference sets: the positives of the adversarial reward and the targets of the similarity reward.
 * On disk: a folder of PNG, JPEG or WebP files and `manifest.json` mapping each prompt to its files (paths
 * relative to the folder), e.g. { "a large red circle on the left, white background": ["red-circle-0.png"] }.
 * Every problem is reported with the file and the manifest field it comes from.
 * The embedded default is the shapes world's reference renders of the training prompts.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { decodeImageFile, ImageFileError } from "./image-file.ts";
import { Effect, Schema } from "effect";
import { makeRng } from "../util/prng.ts";
import { formatPrompt, promptsOf, type PromptSplit } from "../world/prompt.ts";
import { renderReference, type ReferenceStyle } from "../world/render.ts";
import { decodePng, PngError, type RgbImage } from "./png.ts";

export interface ReferenceSet {
  /** Images of each prompt, all of one size. */
  readonly images: ReadonlyMap<string, readonly RgbImage[]>;
  readonly height: number;
  readonly width: number;
}

export class ReferenceSetError extends Schema.TaggedError<ReferenceSetError>()("ReferenceSetError", {
  file: Schema.String,
  /** Where in the manifest the problem sits, e.g. `["a red circle"][2]`. */
  field: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `reference set ${this.file}${this.field ? ` at ${this.field}` : ""}: ${this.reason}`;
  }
}

export const MANIFEST = "manifest.json";

interface LoadOptions {
  /** Prompts the run knows; a manifest prompt outside them is an error (usually a typo). */
  readonly knownPrompts?: ReadonlySet<string>;
  /** Required image size; default: the size of the first image. */
  readonly size?: { readonly height: number; readonly width: number };
  /** Resize and centre-crop every image to this height = width (images may then differ in size and aspect). */
  readonly fit?: number;
  /** The manifest's file name inside the folder. */
  readonly manifest?: string;
}

const fieldOf = (prompt: string, index?: number): string => `[${JSON.stringify(prompt)}]${index === undefined ? "" : `[${index}]`}`;

const parseManifest = (text: string, file: string): Readonly<Record<string, readonly string[]>> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ReferenceSetError({ file, field: "", reason: `is not valid JSON (${(cause as Error).message})` });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ReferenceSetError({ file, field: "", reason: "must be an object mapping each prompt to a list of image files" });
  for (const [prompt, files] of Object.entries(json)) {
    if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === "string")) {
      throw new ReferenceSetError({ file, field: fieldOf(prompt), reason: `must be a non-empty list of file names, got ${JSON.stringify(files)}` });
    }
  }
  return json as Record<string, readonly string[]>;
};

const readText = (file: string, field: string) =>
  Effect.tryPromise({ try: () => readFile(file), catch: (cause) => new ReferenceSetError({ file, field, reason: `cannot be read (${(cause as Error).message})` }) });

const isPng = (bytes: Uint8Array): boolean => bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;

/** PNGs at their own size keep the exact fast-png decode (16-bit, palettes); anything else goes through sharp. */
const decodeImage = async (bytes: Uint8Array, file: string, field: string, fit: number | undefined): Promise<RgbImage> => {
  try {
    return fit === undefined && isPng(bytes) ? decodePng(bytes, file) : await decodeImageFile(bytes, file, fit);
  } catch (cause) {
    if (cause instanceof PngError) throw new ReferenceSetError({ file, field, reason: `is not a readable PNG (${cause.reason})` });
    if (cause instanceof ImageFileError) throw new ReferenceSetError({ file, field, reason: cause.reason });
    throw cause;
  }
};

const keepReferenceSetError = (cause: unknown): ReferenceSetError => {
  if (cause instanceof ReferenceSetError) return cause;
  throw cause;
};

/** Loads and validates `<folder>/manifest.json` and every image it names. */
export const loadReferenceSet = (folder: string, options: LoadOptions = {}): Effect.Effect<ReferenceSet, ReferenceSetError> =>
  Effect.gen(function* () {
    const manifestFile = join(folder, options.manifest ?? MANIFEST);
    const text = yield* readText(manifestFile, "");
    const manifest = yield* Effect.try({ try: () => parseManifest(text.toString("utf8"), manifestFile), catch: keepReferenceSetError });
    const images = new Map<string, RgbImage[]>();
    let size = options.fit === undefined ? options.size : { height: options.fit, width: options.fit };
    for (const [prompt, files] of Object.entries(manifest)) {
      if (options.knownPrompts && !options.knownPrompts.has(prompt)) {
        return yield* new ReferenceSetError({ file: manifestFile, field: fieldOf(prompt), reason: "is not a prompt of this run (check its spelling against the prompt list)" });
      }
      const list: RgbImage[] = [];
      for (const [index, name] of files.entries()) {
        const file = join(folder, name);
        const field = fieldOf(prompt, index);
        if (isAbsolute(name) || relative(resolve(folder), resolve(file)).split(sep)[0] === "..") {
          return yield* new ReferenceSetError({ file: manifestFile, field, reason: `names ${JSON.stringify(name)}, which lies outside the set's folder ${folder}; entries are paths inside it` });
        }
        const bytes = yield* readText(file, field);
        const image = yield* Effect.tryPromise({ try: () => decodeImage(bytes, file, field, options.fit), catch: keepReferenceSetError });
        size ??= { height: image.height, width: image.width };
        if (image.height !== size.height || image.width !== size.width) {
          return yield* new ReferenceSetError({ file, field, reason: `is ${image.height}x${image.width}, expected ${size.height}x${size.width} like the rest of the set` });
        }
        list.push(image);
      }
      images.set(prompt, list);
    }
    if (!size) return yield* new ReferenceSetError({ file: manifestFile, field: "", reason: "names no prompts" });
    return { images, height: size.height, width: size.width };
  });

interface DefaultSetOptions {
  readonly perPrompt?: number;
  readonly style?: ReferenceStyle;
  readonly split?: PromptSplit;
  readonly seed?: number;
  readonly size?: number;
}

/** The shapes world's reference renders: `perPrompt` seeded renders in `style` for every prompt of `split`. */
export const defaultReferenceSet = (o: DefaultSetOptions = {}): ReferenceSet => {
  const size = o.size ?? 32;
  const root = makeRng(o.seed ?? 0).fork("references");
  const images = new Map(
    promptsOf(o.split ?? "train").map((prompt) => {
      const text = formatPrompt(prompt);
      const rng = root.fork(text);
      return [text, Array.from({ length: o.perPrompt ?? 8 }, (_, i) => renderReference(prompt, rng.fork(i), o.style ?? "shaded", { size }))] as const;
    }),
  );
  return { images, height: size, width: size };
};
