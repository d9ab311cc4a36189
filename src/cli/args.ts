/**
 * Command-line arguments through node:util parseArgs (strict: an unknown flag or a flag missing its value is
 * an error, never silently ignored), with the command's usage line in every error.
 */
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { Schema } from "effect";

/** Arguments a command cannot run with; the CLI prints it with the usage line (exit status 1, like every error). */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String,
  usage: Schema.String,
}) {
  override get message() {
    return `${this.reason}\n${this.usage}`;
  }
}

interface ParsedArgs<O extends ParseArgsOptionsConfig> {
  readonly values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>["values"];
  /** The one positional argument every command takes (a pipeline file or a run folder). */
  readonly target: string;
}

export const parseCommandArgs = <O extends ParseArgsOptionsConfig>(args: readonly string[], usage: string, options: O): ParsedArgs<O> => {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError({ reason: (error as Error).message, usage });
  }
  const [target, ...extra] = parsed.positionals;
  if (target === undefined) throw new UsageError({ reason: "missing argument", usage });
  if (extra.length > 0) throw new UsageError({ reason: `unexpected argument${extra.length > 1 ? "s" : ""} ${extra.map((a) => `'${a}'`).join(" ")}`, usage });
  return { values: parsed.values, target };
};

/** A flag's value as a number; `integer` also refuses fractions. */
export const numberFlag = (flag: string, text: string | undefined, usage: string, o: { readonly integer: boolean; readonly min: number }): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < o.min || (o.integer && !Number.isInteger(value))) {
    throw new UsageError({ reason: `--${flag}: expected ${o.integer ? "an integer" : "a number"} >= ${o.min}, got '${text}'`, usage });
  }
  return value;
};

/**
 * A maintainer script's flags (`node src/<...>.ts --flag value`, no positional argument): `--help` prints the usage;
 * an unknown flag, a flag without its value, a bad number or an unknown choice prints the reason and the usage and
 * exits 2, never a stack trace.
 */
export const scriptFlags = <O extends ParseArgsOptionsConfig>(usage: string, options: O) => {
  const fail = (reason: string): never => {
    process.stderr.write(`${reason}\n${usage}\n`);
    return process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: { ...options, help: { type: "boolean" } }, strict: true });
  } catch (error) {
    return fail((error as Error).message);
  }
  if ((parsed.values as { readonly help?: boolean }).help === true) {
    process.stdout.write(`${usage}\n`);
    return process.exit(0);
  }
  const values = parsed.values as ParsedArgs<O>["values"];
  const text = (flag: string) => (values as Readonly<Record<string, unknown>>)[flag] as string | undefined;
  return {
    values,
    /** The flag's value as a number of at least `min` (`integer`: no fractions); a missing one fails too. */
    number: (flag: string, o: { readonly integer: boolean; readonly min: number }): number => {
      try {
        return numberFlag(flag, text(flag), usage, o) ?? fail(`--${flag}: missing`);
      } catch (error) {
        return fail(error instanceof UsageError ? error.reason : String(error));
      }
    },
    /** The flag's value, one of `choices`. */
    choice: <C extends string>(flag: string, choices: readonly C[]): C => {
      const value = text(flag);
      return choices.includes(value as C) ? (value as C) : fail(`--${flag}: expected one of ${choices.join(", ")}, got ${value ?? "nothing"}`);
    },
    /** The flag's value; a missing one fails. */
    required: (flag: string): string => text(flag) ?? fail(`--${flag}: missing`),
  };
};
