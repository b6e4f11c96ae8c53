import { createCipheriv, createDecipheriv, createHmac, randomBytes, type DecipherGCM } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Streaming AES-256-GCM for backup files: a fresh random 96-bit IV per file, written first; the
 * ciphertext; the 128-bit authentication tag at the end. The file name is the additional
 * authenticated data, so files cannot be swapped. Decryption emits plaintext before the tag is
 * checked (at the end), so a restore decrypts every file once to verify it before using any.
 */

const algorithm = 'aes-256-gcm' as const;
const ivBytes = 12;
const tagBytes = 16;

/** Names a key without revealing it (stored in the manifest, compared on restore). */
export const keyId = (key: Buffer): string =>
  createHmac('sha256', key).update('ferry-backup-key-id').digest('hex').slice(0, 16);

/** Encrypts a stream: IV, ciphertext, tag. */
export function encryptStream(key: Buffer, fileName: string): Transform {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv(algorithm, key, iv);
  cipher.setAAD(Buffer.from(fileName, 'utf8'));
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!started) {
        this.push(iv);
        started = true;
      }
      callback(null, cipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      if (!started) this.push(iv);
      this.push(cipher.final());
      callback(null, cipher.getAuthTag());
    },
  });
}

/** Decrypts what encryptStream wrote; fails at the end when the tag does not match. */
export function decryptStream(key: Buffer, fileName: string): Transform {
  let head: Buffer = Buffer.alloc(0);
  let tail: Buffer = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let data: Buffer = chunk;
      if (!decipher) {
        head = Buffer.concat([head, data]);
        if (head.length < ivBytes) {
          callback();
          return;
        }
        decipher = createDecipheriv(algorithm, key, head.subarray(0, ivBytes));
        decipher.setAAD(Buffer.from(fileName, 'utf8'));
        data = head.subarray(ivBytes);
      }
      // the last tagBytes seen may be the tag: hold them back until the next chunk or the end
      const all = tail.length > 0 ? Buffer.concat([tail, data]) : data;
      if (all.length <= tagBytes) {
        tail = all;
        callback();
        return;
      }
      tail = Buffer.from(all.subarray(all.length - tagBytes));
      callback(null, decipher.update(all.subarray(0, all.length - tagBytes)));
    },
    flush(callback: TransformCallback) {
      if (!decipher || tail.length < tagBytes) {
        callback(new Error('too short to be an encrypted backup file'));
        return;
      }
      decipher.setAuthTag(tail);
      try {
        callback(null, decipher.final());
      } catch {
        callback(new Error('authentication failed'));
      }
    },
  });
}
