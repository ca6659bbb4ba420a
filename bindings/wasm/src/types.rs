//! TypeScript declarations of the objects that cross the boundary.
//!
//! They mirror the core's serde shapes; `tests/types.mjs` type-checks real results against them
//! with the TypeScript compiler (excess and missing properties are errors), so they cannot drift.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const SEGMENT_TYPES: &str = r#"
/** How a message travels: 7-bit GSM septets or UCS-2 (UTF-16) units. */
export type Encoding = "GSM-7" | "UCS-2";

/** Where UCS-2 text may be cut between parts. */
export type SplitPolicy = "graphemes" | "codePoints";

/** A national language whose shift tables may keep a message in 7 bits. */
export type NationalLanguage = "tr" | "es" | "pt";

/** Options of a `Segmenter`; every field is optional. */
export interface SegmentOptions {
    split?: SplitPolicy;
    /** Use the 16-bit concatenation reference (152 septets / 66 units per part). */
    ref16?: boolean;
    nationalLanguages?: NationalLanguage[];
    /** Replace typographic look-alikes when that keeps the message GSM-7. */
    smartEncoding?: boolean;
    /** The most segments `validate` accepts (default 10). */
    maxSegments?: number;
}

/** Encoding, units and segments: what the provider bills. */
export interface SegmentCount {
    encoding: Encoding;
    /** Septets (GSM-7) or UTF-16 units (UCS-2). */
    units: number;
    segments: number;
}

/** A character that forced UCS-2, with its UTF-16 index. */
export interface NonGsmChar {
    char: string;
    index: number;
}

/** The national shift tables a GSM-7 message uses. */
export interface NationalShift {
    singleShift: NationalLanguage | null;
    lockingShift: NationalLanguage | null;
}

/** One replacement smart encoding made. */
export interface Replacement {
    from: string;
    to: string;
    index: number;
}

/** The full segmentation of a message, for display. */
export interface Segmentation {
    encoding: Encoding;
    segments: number;
    units: number;
    segmentUnits: number[];
    /** Units one part can hold for this message (160, 153, 70, 67, ...). */
    capacity: number;
    graphemes: number;
    parts: string[];
    nonGsm: NonGsmChar[];
    /** Present when national languages are enabled. */
    nationalLanguage?: NationalShift;
    /** Present when smart encoding is enabled. */
    replacements?: Replacement[];
}

/** What every function throws: an `Error` named "SmsbatchError" with the core's error kind. */
export interface SmsbatchError extends Error {
    name: "SmsbatchError";
    /** Stable camelCase code, e.g. "emptyMessage", "templateSyntax", "invalidFilter". */
    kind: string;
    message: string;
    [detail: string]: unknown;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const FILTER_TYPES: &str = r#"
/** The type of a customer field. */
export type FieldType = "string" | "number" | "date" | "timestamp" | "boolean";

/** One field of a schema. */
export interface Field {
    name: string;
    type: FieldType;
    searchable: boolean;
    sortable: boolean;
}

/** The fields filters may name: `customerSchema()` or your own. */
export interface Schema {
    fields: Field[];
}

/** Filter operators (SPEC §3); negative ones select exactly what their positive twin does not. */
export type FilterOp =
    | "equals" | "notEquals" | "in" | "notIn" | "isEmpty" | "isNotEmpty"
    | "contains" | "notContains" | "startsWith" | "notStartsWith" | "endsWith" | "notEndsWith"
    | "gt" | "gte" | "lt" | "lte" | "between" | "notBetween"
    | "withinLastDays" | "notWithinLastDays"
    | "isTrue" | "isFalse" | "isNotTrue" | "isNotFalse";

/** One condition; value-less operators take no `value`. */
export interface FilterCondition {
    field: string;
    op: FilterOp;
    value?: unknown;
}

/** The filter wire form shared by the customer page, batch creation, saved filters and the server. */
export type FilterNode =
    | { and: FilterNode[] }
    | { or: FilterNode[] }
    | { not: FilterNode }
    | FilterCondition;

/** A versioned filter, as saved, exported and sent over the wire. */
export interface FilterDocument {
    version: 1;
    where: FilterNode;
}

/** Schema (default: the customer schema) and the current time for `withinLastDays`. */
export interface FilterContext {
    schema?: Schema;
    /** RFC 3339, e.g. `new Date().toISOString()`. */
    now?: string;
}

/** A parameterised WHERE clause: `$1..$n` placeholders, `params[i]` is `$i+1`. */
export interface SqlWhere {
    where: string;
    params: unknown[];
}

/** One sort key. */
export interface SortKey {
    field: string;
    direction?: "asc" | "desc";
    nulls?: "first" | "last";
}

/** A filter with search, sort and pagination. */
export interface Query {
    where?: FilterNode;
    search?: string;
    sort?: SortKey[];
    limit?: number;
    offset?: number;
    /** A keyset cursor from `QueryPage.next`. */
    after?: unknown[];
    count?: boolean;
}

/** A page computed in memory: row positions in sort order, the total when counted, the next cursor. */
export interface QueryPage {
    rows: number[];
    total: number | null;
    next: unknown[] | null;
}

/** What to send to PostgREST for a query. */
export interface PostgrestRequest {
    params: [string, string][];
    prefer: string | null;
    head: boolean;
}
"#;
