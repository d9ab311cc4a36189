/**
 * `advgrpo inspect <run>`: the per-epoch table and the latest evaluation of a run;
 * `advgrpo inspect <run> --images <epoch> [--group G] [--scale S] --out grid.png` exports that epoch's images
 * as a grid, one row per group and one column per member.
 */
import { exportImages, formatInspection, inspectRun } from "../pipeline/inspect.ts";
import { numberFlag, parseCommandArgs, UsageError } from "./args.ts";

const USAGE = "usage: advgrpo inspect <run folder> [--images <epoch> [--group G] [--scale S] --out grid.png]";

export const inspectCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: root } = parseCommandArgs(args, USAGE, { images: { type: "string" }, group: { type: "string" }, scale: { type: "string" }, out: { type: "string" } });
  const integer = (flag: string, text: string | undefined, min: number) => numberFlag(flag, text, USAGE, { integer: true, min });
  const epoch = integer("images", values.images, 0);
  if (epoch === undefined) {
    if (values.out !== undefined || values.group !== undefined || values.scale !== undefined) throw new UsageError({ reason: "--out, --group and --scale go with --images <epoch>", usage: USAGE });
    process.stdout.write(`${formatInspection(inspectRun(root))}\n`);
    return;
  }
  if (!values.out) throw new UsageError({ reason: "--images needs --out <file.png>", usage: USAGE });
  const group = integer("group", values.group, 0);
  const exported = exportImages(root, { epoch, out: values.out, scale: integer("scale", values.scale, 1) ?? 1, ...(group === undefined ? {} : { group }) });
  process.stdout.write(`${exported.out}: ${exported.groups} groups x ${exported.members} members, ${exported.width}x${exported.height} px\n`);
};
