/**
 * Building blocks for the pipeline schema. Every field carries a description that states its unit
 * and default, because that description is the only documentation an editor (through the JSON
 * Schema) and pipelines/README.md (generated from it) show to a user.
 */
import { Effect, Schema } from "effect";

interface FieldDoc<T> {
  readonly description: string;
  /** Physical or logical unit ("learning rate", "pixels", "epochs"); omitted for names, switches and enums. */
  readonly unit?: string;
  readonly default: T;
}

const describeDefault = (value: unknown): string => JSON.stringify(value);
const unitText = (unit: string | undefined): string => (unit === undefined ? "" : ` Unit: ${unit}.`);

/** A key that may be left out of a pipeline file: decoding fills in `doc.default`. */
export const field = <S extends Schema.Top>(schema: S, doc: FieldDoc<S["Rebuild"]["Encoded"]>) => {
  // The annotation must sit on the encoded side (inside the default) for the JSON Schema to show it.
  const annotated = schema.annotate({ description: `${doc.description}${unitText(doc.unit)} Default: ${describeDefault(doc.default)}.`, default: doc.default });
  return Schema.withDecodingDefaultKey<S["Rebuild"]>(Effect.succeed(doc.default))(annotated);
};

/** A key whose absence means something (a feature switched off); it stays absent after decoding. */
export const optionalField = <S extends Schema.Top>(schema: S, doc: { readonly description: string; readonly unit?: string; readonly whenAbsent: string }) =>
  Schema.optionalKey(schema.annotate({ description: `${doc.description}${unitText(doc.unit)} Optional; when absent: ${doc.whenAbsent}.` }));

/** A key the file must give (only inside optional blocks, e.g. the paths of an external model). */
export const requiredField = <S extends Schema.Top>(schema: S, doc: { readonly description: string; readonly unit?: string }) =>
  schema.annotate({ description: `${doc.description}${unitText(doc.unit)} Required.` });

/** A block of fields; a file may omit the whole block to take every default in it. */
export const section = <const Fields extends Schema.Struct.Fields>(description: string, fields: Fields) =>
  Schema.Struct(fields)
    .annotate({ description })
    // Every field of a section has its own default, so an absent section decodes as an empty one.
    .pipe(Schema.withDecodingDefaultKey(Effect.succeed({} as Schema.Struct<Fields>["Encoded"])));

export const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0));
export const NonNegativeNumber = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0));
export const Probability = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }));
export const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1));
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));
export const NonEmptyString = Schema.NonEmptyString;
/** Adam-style (beta1, beta2), each in [0, 1). */
export const Betas = Schema.Tuple([
  Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMaximum: true })),
  Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMaximum: true })),
]);
/**
 * An integer in [minimum, maximum] where the value sizes memory or run time: the maximum refuses a typo
 * (an extra zero) before it allocates gigabytes or runs for weeks, and `why` names what it sizes.
 */
export const BoundedInt = (minimum: number, maximum: number, why: string) =>
  Schema.Int.check(Schema.isBetween({ minimum, maximum }, { expected: `an integer from ${minimum} to ${maximum} (at most ${maximum}: ${why})` }));
