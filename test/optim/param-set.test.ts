import { describe, expect, it } from "vitest";
import { InvalidParameterSetError, MissingParameterError } from "../../src/optim/errors.ts";
import {
  cloneParams,
  copyParamsInto,
  getParam,
  paramSet,
  paramTensor,
  selectParams,
  totalCount,
  zerosLike,
} from "../../src/optim/param-set.ts";

const model = () => [paramTensor("w", [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])), paramTensor("b", [3], Float32Array.from([7, 8, 9]))];

describe("ParamSet", () => {
  it("counts, clones and zeros while keeping order and shapes", () => {
    const params = model();
    expect(totalCount(params)).toBe(9);
    const zeros = zerosLike(params);
    expect(zeros.map((p) => [p.name, p.shape, [...p.data]])).toEqual([
      ["w", [2, 3], [0, 0, 0, 0, 0, 0]],
      ["b", [3], [0, 0, 0]],
    ]);
    const copy = cloneParams(params);
    copy[0]!.data[0] = 100;
    expect(params[0]!.data[0]).toBe(1);
  });

  it("looks up by name and names what is missing", () => {
    expect(getParam(model(), "b").data).toEqual(Float32Array.from([7, 8, 9]));
    expect(() => getParam(model(), "bias", "checkpoint")).toThrow(MissingParameterError);
    expect(() => getParam(model(), "bias", "checkpoint")).toThrow('checkpoint: no tensor named "bias" (available: w, b)');
  });

  it("selects a subset in the requested order, sharing data", () => {
    const params = model();
    const subset = selectParams(params, ["b", "w"]);
    expect(subset.map((p) => p.name)).toEqual(["b", "w"]);
    subset[0]!.data[0] = -1;
    expect(params[1]!.data[0]).toBe(-1);
  });

  it("copies into existing buffers by name", () => {
    const target = zerosLike(model());
    copyParamsInto(target, [...model()].reverse());
    expect(target).toEqual(model());
  });

  it("rejects data that does not fit the shape, and duplicate names", () => {
    expect(() => paramTensor("w", [2, 2], new Float32Array(3))).toThrow(InvalidParameterSetError);
    expect(() => paramTensor("w", [2, 2], new Float32Array(3))).toThrow('tensor "w" holds 3 values but its shape [2, 2] needs 4');
    expect(() => paramSet([paramTensor("w", [1]), paramTensor("w", [1])])).toThrow('tensor "w" appears twice');
  });
});
