// AMF0 encoder/decoder for the raw RTMP test client, written from the
// "Action Message Format -- AMF 0" specification (Adobe, 2006). Section
// numbers below refer to that document. Enough of AMF0 for RTMP commands
// (connect/_result/onStatus) and data messages (onMetaData, |RtmpSampleAccess).
//
// Mapping to JS:
//   number  <-> 0x00 number (IEEE-754 double: -0, NaN and +-Infinity survive)
//   boolean <-> 0x01 boolean
//   string  <-> 0x02 string, or 0x0C long string when over 65535 UTF-8 bytes
//   object  <-> 0x03 object (an ECMA array 0x08 or typed object 0x10 decodes to one too)
//   null    <-> 0x05 null;  undefined <-> 0x06 undefined (also inside objects)
//   array   <-> 0x0A strict array
//   Date    <-> 0x0B date (time-zone field written as 0, ignored on read: §2.13 says reserved)
// Strings must be well-formed UTF-16: a lone surrogate becomes U+FFFD in UTF-8.

export type Amf0Value = number | boolean | string | null | undefined | Date | Amf0Value[] | { [k: string]: Amf0Value };

/** AMF0 type markers, §2.1. */
export const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;

/** Nesting limit for both directions: deep input must fail with an Error, not a stack overflow. */
const MAX_DEPTH = 256;

// ---------------------------------------------------------------- encoding

function u8(n: number): Buffer {
  return Buffer.from([n]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function double(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b;
}

/** UTF-8 with a 16-bit length (§1.3 "UTF-8"), used for object keys and short strings. */
function utf8Short(s: string): Buffer[] {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length > 0xffff) throw new RangeError(`AMF0: key of ${bytes.length} bytes exceeds 65535`);
  return [u16(bytes.length), bytes];
}

/** Property list shared by object, ECMA array and typed object; ends with "" + 0x09 (§2.5). */
function encodeProps(obj: { [k: string]: Amf0Value }, out: Buffer[], seen: Set<object>, depth: number): void {
  for (const key of Object.keys(obj)) {
    out.push(...utf8Short(key));
    encodeValue(obj[key], out, seen, depth + 1);
  }
  out.push(u16(0), u8(Marker.ObjectEnd));
}

function encodeValue(v: Amf0Value, out: Buffer[], seen: Set<object>, depth: number): void {
  if (depth > MAX_DEPTH) throw new RangeError(`AMF0: nesting deeper than ${MAX_DEPTH}`);
  if (v === null) return void out.push(u8(Marker.Null));
  if (v === undefined) return void out.push(u8(Marker.Undefined));
  switch (typeof v) {
    case "number":
      return void out.push(u8(Marker.Number), double(v));
    case "boolean":
      return void out.push(u8(Marker.Boolean), u8(v ? 1 : 0));
    case "string": {
      const bytes = Buffer.from(v, "utf8");
      if (bytes.length <= 0xffff) return void out.push(u8(Marker.String), u16(bytes.length), bytes);
      return void out.push(u8(Marker.LongString), u32(bytes.length), bytes); // §2.14
    }
    case "object":
      break;
    default:
      throw new TypeError(`AMF0: cannot encode a ${typeof v}`);
  }
  if (v instanceof Date) return void out.push(u8(Marker.Date), double(v.getTime()), u16(0)); // §2.13
  if (seen.has(v)) throw new TypeError("AMF0: cyclic value");
  seen.add(v);
  if (Array.isArray(v)) {
    out.push(u8(Marker.StrictArray), u32(v.length)); // §2.12
    for (const item of v) encodeValue(item, out, seen, depth + 1);
  } else {
    out.push(u8(Marker.Object)); // §2.5
    encodeProps(v, out, seen, depth);
  }
  seen.delete(v);
}

/** Encodes values back to back, as in an RTMP command or data message body. */
export function encodeAmf0(values: Amf0Value[]): Buffer {
  const out: Buffer[] = [];
  for (const v of values) encodeValue(v, out, new Set(), 0);
  return Buffer.concat(out);
}

/**
 * One ECMA array value (§2.10), e.g. the onMetaData body that encoders send. The
 * associative-count is written as the key count; decoders must not trust it anyway.
 */
export function encodeEcmaArray(obj: { [k: string]: Amf0Value }): Buffer {
  const out: Buffer[] = [u8(Marker.EcmaArray), u32(Object.keys(obj).length)];
  encodeProps(obj, out, new Set([obj]), 0);
  return Buffer.concat(out);
}

// ---------------------------------------------------------------- decoding

class Reader {
  pos = 0;
  /** Complex values in the order they started, for 0x07 references (§2.9). */
  readonly refs: Amf0Value[] = [];

  constructor(readonly buf: Buffer) {}

  private take(n: number): number {
    const rest = this.buf.length - this.pos;
    if (n > rest) {
      throw new Error(`AMF0: truncated input, need ${n} byte(s) at offset ${this.pos} but ${rest} left`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.buf[this.take(1)];
  }
  u16(): number {
    return this.buf.readUInt16BE(this.take(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.take(4));
  }
  double(): number {
    return this.buf.readDoubleBE(this.take(8));
  }
  utf8(len: number): string {
    const at = this.take(len);
    return this.buf.toString("utf8", at, at + len);
  }
  peek(): number | undefined {
    return this.pos < this.buf.length ? this.buf[this.pos] : undefined;
  }
}

/** Sets a property without invoking the `__proto__` setter for a key named "__proto__". */
function defineProp(obj: { [k: string]: Amf0Value }, key: string, value: Amf0Value): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function decodeProps(r: Reader, obj: { [k: string]: Amf0Value }, depth: number): void {
  for (;;) {
    const key = r.utf8(r.u16());
    // The end is an empty key followed by 0x09 (§2.5). An empty key followed by any
    // other marker is a real property named "", since no value starts with 0x09.
    if (key === "" && r.peek() === Marker.ObjectEnd) {
      r.pos += 1;
      return;
    }
    defineProp(obj, key, decodeValue(r, depth + 1));
  }
}

function decodeValue(r: Reader, depth: number): Amf0Value {
  if (depth > MAX_DEPTH) throw new Error(`AMF0: nesting deeper than ${MAX_DEPTH} at offset ${r.pos}`);
  const at = r.pos;
  const marker = r.u8();
  switch (marker) {
    case Marker.Number:
      return r.double();
    case Marker.Boolean:
      return r.u8() !== 0;
    case Marker.String:
      return r.utf8(r.u16());
    case Marker.LongString:
    case Marker.XmlDocument: // §2.17: a long string holding XML
      return r.utf8(r.u32());
    case Marker.Null:
      return null;
    case Marker.Undefined:
    case Marker.Unsupported: // §2.15: "no value" placeholder
      return undefined;
    case Marker.Date: {
      const ms = r.double();
      r.u16(); // time-zone, reserved (§2.13)
      return new Date(ms);
    }
    case Marker.Object:
    case Marker.EcmaArray:
    case Marker.TypedObject: {
      if (marker === Marker.TypedObject) r.utf8(r.u16()); // class name, dropped
      if (marker === Marker.EcmaArray) r.u32(); // associative-count, advisory only
      const obj: { [k: string]: Amf0Value } = {};
      r.refs.push(obj);
      decodeProps(r, obj, depth);
      return obj;
    }
    case Marker.StrictArray: {
      const count = r.u32();
      const arr: Amf0Value[] = [];
      r.refs.push(arr);
      // Grow as values arrive: a hostile count must not allocate up front.
      for (let i = 0; i < count; i++) arr.push(decodeValue(r, depth + 1));
      return arr;
    }
    case Marker.Reference: {
      const idx = r.u16();
      if (idx >= r.refs.length) {
        throw new Error(`AMF0: reference ${idx} at offset ${at} points past ${r.refs.length} object(s)`);
      }
      return r.refs[idx];
    }
    case Marker.ObjectEnd:
      throw new Error(`AMF0: object-end marker outside an object at offset ${at}`);
    default:
      throw new Error(`AMF0: unsupported marker 0x${marker.toString(16).padStart(2, "0")} at offset ${at}`);
  }
}

/** Decodes every value in `buf`. Throws an Error (never a RangeError from Buffer) on bad input. */
export function decodeAmf0(buf: Buffer): Amf0Value[] {
  const r = new Reader(buf);
  const values: Amf0Value[] = [];
  while (r.pos < buf.length) values.push(decodeValue(r, 0));
  return values;
}
