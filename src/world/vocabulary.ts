/**
 * The words of the shapes world and the colours they stand for.
 *
 * Shape colours are saturated and well apart in hue; background colours are neutral, so an image
 * alone tells them apart (hue for the shape, brightness for the background) whatever the style.
 */

export type Rgb = readonly [number, number, number];

export const COLOURS = ["red", "orange", "yellow", "green", "blue", "purple"] as const;
export type Colour = (typeof COLOURS)[number];

export const SHAPES = ["circle", "square", "triangle", "cross"] as const;
export type ShapeKind = (typeof SHAPES)[number];

export const SIZES = ["small", "large"] as const;
export type Size = (typeof SIZES)[number];

export const POSITIONS = ["left", "center", "right"] as const;
export type Position = (typeof POSITIONS)[number];

export const BACKGROUNDS = ["white", "gray", "black"] as const;
export type Background = (typeof BACKGROUNDS)[number];

/** One prompt of the world: every attribute an image is judged on. */
export interface ShapeAttributes {
  readonly colour: Colour;
  readonly shape: ShapeKind;
  readonly size: Size;
  readonly position: Position;
  readonly background: Background;
}

export const COLOUR_RGB: Readonly<Record<Colour, Rgb>> = {
  red: [0.86, 0.12, 0.12],
  orange: [0.96, 0.52, 0.08],
  yellow: [0.95, 0.85, 0.12],
  green: [0.15, 0.68, 0.22],
  blue: [0.15, 0.32, 0.88],
  purple: [0.55, 0.2, 0.75],
};

export const BACKGROUND_RGB: Readonly<Record<Background, Rgb>> = {
  white: [0.95, 0.95, 0.95],
  gray: [0.5, 0.5, 0.5],
  black: [0.08, 0.08, 0.08],
};

/** Shape radius as a fraction of the image width; "radius" is half the shape's bounding extent. */
export const SIZE_RADIUS: Readonly<Record<Size, number>> = { small: 0.12, large: 0.24 };

/** Horizontal centre of the shape as a fraction of the image width (vertically always centred). */
export const POSITION_X: Readonly<Record<Position, number>> = { left: 0.28, center: 0.5, right: 0.72 };
