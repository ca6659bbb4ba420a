//! TypeScript declarations of the objects that cross the boundary.
//!
//! They mirror the core's serde shapes; `tests/types.test.mjs` type-checks real results and
//! accepted inputs against them
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

/** Filter operators; each negative one selects exactly the rows its positive twin does not, NULLs included. */
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

#[wasm_bindgen(typescript_custom_section)]
const PREVIEW_TYPES: &str = r#"
/** What a template needs and costs before any data is applied. */
export interface TemplateMetadata {
    variables: string[];
    staticText: string;
    /** The static text's encoding: "UCS-2" means every message will be UCS-2. */
    encoding: Encoding;
    units: number;
    /** No rendering of the template takes fewer segments. */
    minSegments: number;
}

/** A stored template. */
export interface TemplateRecord {
    id: string;
    name: string;
    body: string;
    description?: string;
    tags?: string[];
    /** RFC 3339. */
    createdAt: string;
    updatedAt: string;
}

/**
 * An exact amount of money or credits as a decimal string, e.g. "0.0079" or "3". Never a
 * `number`: a double cannot hold every price and total exactly. Display it as it is, or with a
 * decimal library; `Number(amount)` is only an approximation.
 */
export type Amount = string;

/**
 * The price of one segment per encoding: a decimal string, or a `number` of at most 15
 * significant digits (which a double holds exactly). Results always give prices as strings.
 */
export interface EncodingPrices {
    "GSM-7": Amount | number;
    "UCS-2": Amount | number;
}

/** Prices per segment: a default, and per country calling code ("44"). */
export interface PriceTable {
    currency: string;
    default: EncodingPrices;
    byCountry?: Record<string, EncodingPrices>;
}

/**
 * What a batch is for: "marketing" (the default) reaches only customers with `opted_in` true who
 * did not opt out; "transactional" (an order is ready, an appointment tomorrow) every customer
 * who did not opt out. A number on the suppression list counts as opted out.
 */
export type Purpose = "marketing" | "transactional";

/**
 * Options of a `Previewer`; every field is optional. The package has no phone metadata, so phones
 * must already be E.164 (`e164Only` is implied) and the server's `region` option is not available.
 */
export interface PreviewOptions {
    /** Whose consent the messages need (default "marketing"). */
    purpose?: Purpose;
    segments?: SegmentOptions;
    e164Only?: boolean;
    /** Without a price table, cost is credits: 1 per segment. */
    prices?: PriceTable;
    /** Phone numbers that must not receive messages. */
    suppress?: string[];
    /** "exclude" (default) leaves the recipient out; "fail" throws at the first one. */
    missing?: "exclude" | "fail";
    /** Include the text of each part for every included recipient. */
    parts?: boolean;
    /** How many ids the summary's lists keep (default 100). */
    listLimit?: number;
    /** The row field holding the customer's id (default "id"). */
    idField?: string;
    /** The row field holding the phone number (default "phone"). */
    phoneField?: string;
    /** The row field holding consent to marketing (default "opted_in"). */
    optedInField?: string;
    /** The row field saying the customer asked to stop (default "opted_out"). */
    optedOutField?: string;
}

/** Which recipients a sample preview shows. Seeds must be below 2^53 to survive JavaScript numbers. */
export type Sample = { first: number } | { seeded: { size: number; seed: number } };

/** Why a recipient is left out; when several apply, the first in this order. */
export type ExclusionReason =
    | "noPhone" | "invalidPhone" | "duplicatePhone" | "optedOut" | "noConsent"
    | "missingVariable" | "emptyBody" | "tooManySegments";

/** A recipient who gets a message. */
export interface IncludedRecipient {
    index: number;
    id: unknown;
    phone: string;
    text: string;
    encoding: Encoding;
    segments: number;
    units: number;
    graphemes: number;
    /** `segments ×` the price of a segment for this number and encoding, exactly. */
    cost: Amount;
    pushedToUcs2: boolean;
    extraSegments: number;
    /** For a message pushed to UCS-2: the characters that forced it. */
    nonGsm?: NonGsmChar[];
    parts?: string[];
}

/** A recipient left out of the batch. */
export interface ExcludedRecipient {
    index: number;
    id: unknown;
    excluded: ExclusionReason;
    detail: string;
}

/** A row that could not be previewed. */
export interface FailedRecipient {
    index: number;
    id?: unknown;
    error: { kind: string; message: string; [detail: string]: unknown };
}

export type RecipientPreview = IncludedRecipient | ExcludedRecipient | FailedRecipient;

export interface ExclusionCounts {
    noPhone: number;
    invalidPhone: number;
    duplicatePhone: number;
    optedOut: number;
    noConsent: number;
    missingVariable: number;
    emptyBody: number;
    tooManySegments: number;
}

export interface EncodingTotals {
    recipients: number;
    segments: number;
    cost: Amount;
}

export interface RecipientList {
    count: number;
    ids: unknown[];
}

/** The batch's totals. */
export interface PreviewSummary {
    total: number;
    recipients: number;
    excluded: ExclusionCounts;
    errors: number;
    /** Credits: the segments of every included message. */
    segments: number;
    /** The exact sum of the included recipients' costs. */
    cost: Amount;
    currency: string;
    byEncoding: { "GSM-7": EncodingTotals; "UCS-2": EncodingTotals };
    /** Included messages per number of segments, e.g. {"1": 950, "2": 50}. */
    histogram: Record<string, number>;
    pushedToUcs2: RecipientList;
    pushedToExtraSegment: RecipientList;
    staticText: SegmentCount;
}

/** A preview: one entry per row previewed, in input order, and the totals. */
export interface Preview {
    recipients: RecipientPreview[];
    summary: PreviewSummary;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const FLAG_TYPES: &str = r#"
/** An Unleash client-API state (`GET /api/client/features`), loaded as is. */
export interface UnleashState {
    version?: number;
    features: UnleashFeature[];
    segments?: unknown[];
    query?: unknown;
}

/** One flag of an Unleash state (the fields this package reads; others are ignored). */
export interface UnleashFeature {
    name: string;
    enabled: boolean;
    description?: string | null;
    strategies?: unknown[];
    variants?: unknown[];
    dependencies?: unknown[];
    [other: string]: unknown;
}

/** The evaluation context, as in the Unleash SDKs; unknown keys become `properties`. */
export interface FlagContext {
    userId?: string;
    sessionId?: string;
    remoteAddress?: string;
    environment?: string;
    appName?: string;
    /** RFC 3339. */
    currentTime?: string;
    properties?: Record<string, string>;
    [property: string]: unknown;
}

/** The clock and random source of an evaluation; the page's clock and `Math.random()` by default. */
export interface EvaluationOptions {
    /** RFC 3339. */
    now?: string;
    /** Seed for `gradualRolloutRandom` and random stickiness (below 2^53). */
    seed?: number;
}

/** A variant, in exactly the Unleash specification's `expectedResult` shape. */
export interface Variant {
    name: string;
    payload?: { type: string; value: string };
    enabled: boolean;
    feature_enabled: boolean;
}

/** OpenFeature-style resolution reasons. */
export type EvaluationReason = "static" | "targetingMatch" | "split" | "default" | "disabled" | "error";

/** A value with the reason for it. */
export interface EvaluationDetails<T> {
    value: T;
    variant?: string;
    reason: EvaluationReason;
    errorCode?: "flagNotFound" | "parseError";
    errorMessage?: string;
}

/** A rule the compiler turned off, and why. */
export interface FlagWarning {
    flag: string | null;
    strategy: number | null;
    message: string;
}
"#;

#[wasm_bindgen(typescript_custom_section)]
const ANALYTICS_TYPES: &str = r#"
/** Where a message is in the send queue's state machine. */
export type MessageStatus =
    "pending" | "processing" | "sent" | "delivered" | "undelivered" | "failed" | "inDoubt" | "cancelled";

/** What kind of failure a send met. */
export type ErrorCategory =
    | "rateLimited" | "backpressure" | "transient" | "providerError" | "inDoubt"
    | "invalidRecipient" | "optedOut" | "unreachable" | "blocked" | "filtered"
    | "content" | "config" | "account" | "compliance" | "unknown";

/** One row of `sms_batch_messages` as the JSON API and Supabase give it. Times are RFC 3339. */
export interface Message {
    id: number;
    batchId: string;
    customerId: number;
    phone: string;
    sender?: string | null;
    countryCode?: string | null;
    body: string;
    encoding: Encoding;
    segments: number;
    estimatedCost: Amount;
    variant?: string | null;
    timeZone?: string | null;
    status: MessageStatus;
    claimToken?: string | null;
    leaseExpiresAt?: string | null;
    attempts: number;
    maxAttempts?: number | null;
    runAt: string;
    claimedAt?: string | null;
    sendStartedAt?: string | null;
    acceptedAt?: string | null;
    deliveredAt?: string | null;
    providerId?: string | null;
    providerStatus?: string | null;
    providerSegments?: number | null;
    errorCategory?: ErrorCategory | null;
    errorCode?: string | null;
    errorMessage?: string | null;
    price?: Amount | null;
    priceCurrency?: string | null;
    verified?: number;
    verifiedAt?: string | null;
    checkAfter?: string | null;
    createdAt: string;
    updatedAt: string;
}

/** How much a log event matters. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** One row of `sms_batch_logs`. */
export interface BatchLog {
    id: number;
    batchId: string;
    at: string;
    level: LogLevel;
    event: string;
    message: string;
    data: unknown;
}

/** The error-rate objective: in no window of `windowSeconds` may more than `rate` fail. */
export interface ErrorRateObjective {
    rate: number;
    windowSeconds: number;
    /** Windows with fewer settled messages are not judged (default 1). */
    minMessages?: number;
}

/** SLA objectives (the `--sla FILE` format); every field is optional. */
export interface SlaObjectives {
    doneWithinSeconds?: number;
    maxErrorRate?: ErrorRateObjective;
    minDeliveryRate?: number;
    maxCostOverEstimate?: number;
}

/** Options of `analyze`; every field is optional. */
export interface AnalyzeOptions {
    /** The batch analysed (default: the first message's). */
    batch?: string;
    /** RFC 3339: the time the analysis is as of (default: the page's clock). */
    now?: string;
    /** The report's currency (default: the first price's, else "credits"). */
    currency?: string;
    /** When the batch started sending, RFC 3339 (default: the first claim). */
    startedAt?: string;
    /** The error trend's window in whole seconds (default 60). */
    windowSeconds?: number;
    sla?: SlaObjectives;
    /** The batch's log, for the log summary. */
    logs?: BatchLog[];
}

/** Messages per status. */
export interface StatusCounts {
    pending: number;
    processing: number;
    sent: number;
    delivered: number;
    undelivered: number;
    failed: number;
    inDoubt: number;
    cancelled: number;
}

/** How fast the provider accepted the messages; the rates are null for an empty span. */
export interface Throughput {
    from: string | null;
    to: string | null;
    seconds: number;
    messages: number;
    segments: number;
    messagesPerSecond: number | null;
    segmentsPerSecond: number | null;
}

/** A latency's distribution in seconds (nearest-rank percentiles). */
export interface LatencyStats {
    count: number;
    min: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
    mean: number;
}

/** Latency percentiles, null when no message had both instants. */
export interface Latency {
    claimToAccepted: LatencyStats | null;
    acceptedToDelivered: LatencyStats | null;
}

/** Money, estimated and actual, as exact decimal strings. */
export interface CostSummary {
    estimated: Amount;
    actual: Amount;
    currency: string;
}

/** One failed message as a report shows it. */
export interface ErrorSample {
    messageId: string;
    code?: string;
    message: string;
    at: string;
}

/** Failures of one category, with samples. */
export interface CategoryStats {
    category: ErrorCategory;
    count: number;
    samples: ErrorSample[];
}

/** One template variant's share of a batch. */
export interface VariantReport {
    messages: number;
    segments: number;
    byState: StatusCounts;
    successRate: number | null;
    deliveryRate: number | null;
    cost: CostSummary;
}

/** An SLA objective's name. */
export type Objective = "doneWithinSeconds" | "maxErrorRate" | "minDeliveryRate" | "maxCostOverEstimate";

/** One objective's evaluation. */
export interface ObjectiveResult {
    objective: Objective;
    status: "met" | "violated" | "pending";
    limit: number;
    observed: number | null;
}

/** A breach of an objective; `endedAt` is null while it lasts. */
export interface Violation {
    objective: Objective;
    beganAt: string;
    endedAt: string | null;
    observed: number;
    limit: number;
    message: string;
}

/** The objectives' evaluation. */
export interface SlaReport {
    met: boolean;
    objectives: ObjectiveResult[];
    violations: Violation[];
}

/** One batch's report: what `smsbatch report --json` prints. */
export interface BatchReport {
    batch: string;
    messages: number;
    segments: number;
    byState: StatusCounts;
    successRate: number | null;
    deliveryRate: number | null;
    throughput: Throughput;
    latency: Latency;
    cost: CostSummary;
    errors: CategoryStats[];
    variants: Record<string, VariantReport>;
    sla: SlaReport | null;
}

/** The credits (segments) and money of one slice of a batch. */
export interface CreditLine {
    messages: number;
    segments: number;
    actualSegments: number;
    estimatedCost: Amount;
    actualCost: Amount;
}

/** Credits by encoding, country calling code ("unknown" when none) and variant ("none"). */
export interface Credits {
    byEncoding: Record<string, CreditLine>;
    byCountry: Record<string, CreditLine>;
    byVariant: Record<string, CreditLine>;
    /** Charges in other currencies than the report's, never added to `cost.actual`. */
    otherCurrencies: Record<string, Amount>;
}

/** A category's errors in a trend window. */
export interface CategoryRate {
    count: number;
    rate: number;
}

/** One window of the error trend. */
export interface TrendWindow {
    start: string;
    end: string;
    messages: number;
    errors: number;
    errorRate: number;
    byCategory: Partial<Record<ErrorCategory, CategoryRate>>;
}

/** Error rates per category over consecutive windows (empty windows left out). */
export interface ErrorTrend {
    windowSeconds: number;
    windows: TrendWindow[];
}

/** One window of a `Series`. */
export interface SeriesWindow {
    start: string;
    end: string;
    /** Messages the provider accepted in the window: the throughput is `accepted / windowSeconds`. */
    accepted: number;
    segments: number;
    /** Of every message accepted up to the window's end (cumulative). */
    estimatedCost: Amount;
    actualCost: Amount;
}

/** Throughput and cumulative cost over time, in the error trend's windows. */
export interface Series {
    windowSeconds: number;
    currency: string;
    windows: SeriesWindow[];
}

/** What the batch's log holds. */
export interface LogSummary {
    byLevel: Record<string, number>;
    byEvent: Record<string, number>;
    first: string | null;
    last: string | null;
}

/** Everything `analyze` found: the report and the details a person drills into. */
export interface BatchAnalysis {
    report: BatchReport;
    credits: Credits;
    errorTrend: ErrorTrend;
    series: Series;
    /** Accepted by the provider, delivery not confirmed (status `sent`). */
    unconfirmed: number;
    /** Pending, processing or in doubt. */
    unfinished: number;
    doneAt: string | null;
    log: LogSummary;
}
"#;
