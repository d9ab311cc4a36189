/**
 * `advgrpo export <model.onnx> --lora <pytorch_lora_weights.safetensors> --out <merged.onnx> [--component transformer]`:
 * merges trained LoRA factors (peft/diffusers naming, see graph/lora-io.ts) into the source ONNX model,
 * keeping its inputs, outputs and dynamic axes; weights go to `<out>.data` when past protobuf's 2 GB.
 */
import { mergeLoraIntoOnnx } from "../graph/lora-io.ts";
import { parseCommandArgs, UsageError } from "./args.ts";

const USAGE = "usage: advgrpo export <model.onnx> --lora <lora.safetensors> --out <merged.onnx> [--component transformer]";

export const exportCommand = async (args: readonly string[]): Promise<void> => {
  const { values, target: model } = parseCommandArgs(args, USAGE, { lora: { type: "string" }, out: { type: "string" }, component: { type: "string" } });
  if (!values.lora || !values.out) throw new UsageError({ reason: "--lora and --out are required", usage: USAGE });
  const written = mergeLoraIntoOnnx(model, values.lora, values.out, values.component ?? "transformer");
  const data = written.dataPath ? ` + ${written.dataPath} (${written.dataBytes} bytes)` : "";
  process.stdout.write(`${written.modelPath}: ${written.merged} LoRA modules merged, ${written.modelBytes} bytes${data}\n`);
};
