/**
 * An unpaired style folder: images of the target style with no prompt attached (any count; PNG, JPEG, WebP;
 * any size), the way users collect references. Every image is resized and centre-cropped to the requested
 * size. Prompt i of the run takes the `perPrompt` images starting at i * perPrompt in name order, wrapping
 * around, so every prompt has a fixed reference subset (replay draws the same) and a large folder costs only
 * the images the run uses: those alone are decoded.
 */
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { decodeImageFile, IMAGE_EXTENSIONS, ImageFileError } from "./image-file.ts";
import type { RgbImage } from "./png.ts";
import { ReferenceSetError, type ReferenceSet } from "./reference-set.ts";

interface StyleFolderOptions {
  readonly perPrompt: number;
  /** Height = width every image is fitted to. */
  readonly size: number;
}

/** The folder's image files in name order (byte order, so the assignment does not depend on the locale). */
const styleImageFiles = async (folder: string): Promise<string[]> => {
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (cause) {
    throw new ReferenceSetError({ file: folder, field: "", reason: `cannot be listed (${(cause as Error).message})` });
  }
  const images = entries.filter((name) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase())).sort();
  if (images.length === 0) {
    throw new ReferenceSetError({
      file: folder,
      field: "",
      reason: `holds no ${IMAGE_EXTENSIONS.join(" / ")} images and no manifest.json (found: ${entries.slice(0, 8).join(", ") || "nothing"}${entries.length > 8 ? ", ..." : ""})`,
    });
  }
  return images;
};

/** Indices into the folder's images of prompt `i`'s references. */
export const styleIndicesFor = (promptIndex: number, perPrompt: number, count: number): number[] =>
  Array.from({ length: perPrompt }, (_, k) => (promptIndex * perPrompt + k) % count);

export const loadStyleFolder = async (folder: string, prompts: readonly string[], options: StyleFolderOptions): Promise<ReferenceSet> => {
  const files = await styleImageFiles(folder);
  const decoded = new Map<number, Promise<RgbImage>>();
  const image = (index: number): Promise<RgbImage> => {
    let pending = decoded.get(index);
    if (!pending) {
      const file = join(folder, files[index]!);
      pending = readFile(file)
        .catch((cause: Error) => {
          throw new ReferenceSetError({ file, field: "", reason: `cannot be read (${cause.message})` });
        })
        .then((bytes) => decodeImageFile(bytes, file, options.size))
        .catch((cause: unknown) => {
          throw cause instanceof ImageFileError ? new ReferenceSetError({ file, field: "", reason: cause.reason }) : cause;
        });
      decoded.set(index, pending);
    }
    return pending;
  };
  const images = new Map<string, readonly RgbImage[]>();
  // one at a time: decoding a folder of large photos all at once would hold every compressed file in memory
  for (const [i, prompt] of prompts.entries()) {
    const list: RgbImage[] = [];
    // a folder smaller than perPrompt gives each prompt all of it, never one image twice
    for (const index of styleIndicesFor(i, Math.min(options.perPrompt, files.length), files.length)) list.push(await image(index));
    images.set(prompt, list);
  }
  return { images, height: options.size, width: options.size };
};
