import { describe, expect, it } from "vitest";
import { decodePng, type RgbImage } from "../../src/io/png.ts";
import { composeGrid, GridError, gridPng } from "../../src/report/grid.ts";

const solid = (rgb: readonly number[], height = 2, width = 3): RgbImage => {
  const plane = height * width;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) data.fill(rgb[c], c * plane, (c + 1) * plane);
  return { data, height, width };
};
const at = (image: RgbImage, x: number, y: number) => {
  const plane = image.height * image.width;
  return [0, 1, 2].map((c) => image.data[c * plane + y * image.width + x]);
};

describe("composeGrid", () => {
  it("lays rows x columns out with gaps, upscaling each image by an integer factor", () => {
    const red = solid([1, 0, 0]);
    const blue = solid([0, 0, 1]);
    const grid = composeGrid([[red, blue], [blue]], { gap: 1, scale: 2, gapColour: [0, 1, 0] });
    // 2 rows of 4-pixel cells and 2 columns of 6-pixel cells, 1-pixel gaps all round.
    expect([grid.height, grid.width]).toEqual([2 * 4 + 3, 2 * 6 + 3]);
    expect(at(grid, 0, 0)).toEqual([0, 1, 0]);
    expect(at(grid, 1, 1)).toEqual([1, 0, 0]);
    expect(at(grid, 6, 4)).toEqual([1, 0, 0]);
    expect(at(grid, 7, 4)).toEqual([0, 1, 0]);
    expect(at(grid, 8, 1)).toEqual([0, 0, 1]);
    expect(at(grid, 1, 6)).toEqual([0, 0, 1]);
    expect(at(grid, 8, 6)).toEqual([0, 1, 0]); // the short second row leaves gap colour
  });

  it("keeps each source pixel as a scale x scale block", () => {
    const image = { data: new Float32Array([0, 1, 0, 1, 0, 1]), height: 1, width: 2 };
    const grid = composeGrid([[image]], { gap: 0, scale: 3 });
    expect([grid.height, grid.width]).toEqual([3, 6]);
    for (let y = 0; y < 3; y++) {
      expect(at(grid, 2, y)).toEqual([0, 0, 0]);
      expect(at(grid, 3, y)).toEqual([1, 1, 1]);
    }
  });

  it("refuses mixed sizes, no images and bad options", () => {
    expect(() => composeGrid([[solid([0, 0, 0]), solid([0, 0, 0], 3, 3)]])).toThrow(/row 0, column 1 is 3x3; expected 2x3/);
    expect(() => composeGrid([[], []])).toThrow(GridError);
    expect(() => composeGrid([[solid([0, 0, 0])]], { scale: 1.5 })).toThrow(/scale/);
  });
});

describe("gridPng", () => {
  it("encodes the composed grid", () => {
    const rows = [[solid([1, 0, 0]), solid([0, 0, 1])]];
    const decoded = decodePng(gridPng(rows, { scale: 2 }));
    expect(decoded).toEqual(composeGrid(rows, { scale: 2 }));
  });
});
