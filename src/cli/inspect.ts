/**
 * `advgrpo inspect <run>`: the per-epoch table and the latest evaluation of a run;
 * `advgrpo inspect <run> --images <epoch> [--group G] [--scale S] --out grid.png` exports that epoch's images
 * as a grid, one row per group and one column per member.
 */
import { parseArgs } from "node:util";
import { exportImages, formatInspection, inspectRun } from "../pipeline/inspect.ts";

const USAGE = "usage: advgrpo inspect <run folder> [--images <epoch> [--group G] [--scale S] --out grid.png]";

const integer = (flag: string, text: string | undefined, min: number): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < min) throw new Error(`--${flag}: expected an integer >= ${min}, got '${text}'\n${USAGE}`);
  return value;
};

export const inspectCommand = async (args: readonly string[]): Promise<void> => {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { images: { type: "string" }, group: { type: "string" }, scale: { type: "string" }, out: { type: "string" } },
  });
  const [root] = positionals;
  if (!root || positionals.length > 1) throw new Error(USAGE);
  const epoch = integer("images", values.images, 0);
  if (epoch === undefined) {
    if (values.out !== undefined || values.group !== undefined || values.scale !== undefined) throw new Error(`--out, --group and --scale go with --images <epoch>\n${USAGE}`);
    process.stdout.write(`${formatInspection(inspectRun(root))}\n`);
    return;
  }
  if (!values.out) throw new Error(`--images needs --out <file.png>\n${USAGE}`);
  const group = integer("group", values.group, 0);
  const exported = exportImages(root, { epoch, out: values.out, scale: integer("scale", values.scale, 1) ?? 1, ...(group === undefined ? {} : { group }) });
  process.stdout.write(`${exported.out}: ${exported.groups} groups x ${exported.members} members, ${exported.width}x${exported.height} px\n`);
};
