// Who a confined VMM (QEMU, a solo5 tender) runs as: its app's own uid/gid from the Confiner,
// with /dev/kvm's group as its only supplementary group when that group may open the device.
import { stat } from 'node:fs/promises';
import type { Confiner } from '../isolation/confine.js';

/** Who a confined VMM runs as. */
export interface VmmUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the group of /dev/kvm when it can open the device through it. */
  groups: number[];
  /** Whether /dev/kvm is usable by this user (its group has read and write, and is not root's). */
  kvm: boolean;
}

/** The app's user from the Confiner, and /dev/kvm's group when that group may open it. */
export async function vmmUser(confiner: Confiner, app: string, kvmDevice = '/dev/kvm'): Promise<VmmUser> {
  const uid = await confiner.uids.uidFor(app);
  const st = await stat(kvmDevice).catch(() => null);
  const kvm = !!st && st.isCharacterDevice() && st.gid !== 0 && (st.mode & 0o060) === 0o060;
  return { uid, gid: uid, groups: kvm ? [st.gid] : [], kvm };
}
