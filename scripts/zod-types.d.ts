/**
 * Type-only stand-in for the parts of zod's types that rollgate's public declarations use, shipped
 * in the CommonJS build (dist/cjs/zod-types.d.ts; scripts/build.mjs points the declarations at
 * it). zod 4's own .d.cts files do not compile under Pulumi's CommonJS TypeScript template
 * (esModuleInterop off, skipLibCheck off: TS1259 in zod/v4/locales), so CommonJS users would get
 * errors from inside node_modules. This computes the same input and output types from the schema
 * generics (strings, numbers, booleans, literals, enums, optionals, arrays, records, objects and
 * unions), so PolicyInput and the other `z.input`/`z.output` types stay exact. The ESM build keeps
 * zod's real types.
 */
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S> = { [K in keyof S]: S[K] extends z.ZodOptional<any> ? K : never }[keyof S];

export declare namespace z {
  namespace core {
    interface $strict { readonly unknownKeys: "strict" }
    interface $strip { readonly unknownKeys: "strip" }
    interface $loose { readonly unknownKeys: "loose" }
    interface $ZodIssue {
      readonly code: string;
      readonly path: PropertyKey[];
      readonly message: string;
      readonly [key: string]: unknown;
    }
  }
  type SafeParseResult<T> = { success: true; data: T; error?: never } | { success: false; data?: never; error: { issues: core.$ZodIssue[]; message: string } };
  interface ZodType<Output = unknown, Input = Output> {
    readonly _zod: { output: Output; input: Input };
    parse(data: unknown): Output;
    safeParse(data: unknown): SafeParseResult<Output>;
  }
  type output<T> = T extends ZodType<infer O, any> ? O : never;
  type input<T> = T extends ZodType<any, infer I> ? I : never;
  type infer<T> = output<T>;

  interface ZodString extends ZodType<string> {}
  interface ZodNumber extends ZodType<number> {}
  interface ZodBoolean extends ZodType<boolean> {}
  interface ZodLiteral<T> extends ZodType<T> {}
  interface ZodEnum<T extends Record<string, string | number>> extends ZodType<T[keyof T]> {}
  interface ZodOptional<T extends ZodType<any, any>> extends ZodType<output<T> | undefined, input<T> | undefined> {}
  interface ZodArray<T extends ZodType<any, any>> extends ZodType<Array<output<T>>, Array<input<T>>> {}
  interface ZodRecord<K extends ZodType<any, any>, V extends ZodType<any, any>> extends ZodType<Record<output<K> & PropertyKey, output<V>>, Record<input<K> & PropertyKey, input<V>>> {}
  type ObjectOf<S, Which extends "input" | "output", Config> = Simplify<
    { [K in Exclude<keyof S, OptionalKeys<S>>]: Which extends "input" ? input<S[K]> : output<S[K]> } & { [K in OptionalKeys<S>]?: Which extends "input" ? input<S[K]> : output<S[K]> }
  > &
    (Config extends core.$loose ? { [key: string]: unknown } : {});
  interface ZodObject<S extends Record<string, ZodType<any, any>> = {}, Config = core.$strip> extends ZodType<ObjectOf<S, "output", Config>, ObjectOf<S, "input", Config>> {}
  interface ZodUnion<Options extends readonly ZodType<any, any>[]> extends ZodType<output<Options[number]>, input<Options[number]>> {}
  interface ZodDiscriminatedUnion<Options extends readonly ZodType<any, any>[], Disc extends string = string> extends ZodType<output<Options[number]>, input<Options[number]>> {}
}
