// Tearing a TD down in the TDX module (tdh_vp_flush.c, tdh_mng_vpflushdone.c,
// tdh_phymem_cache_wb.c, tdh_mng_key_freeid.c, tdh_phymem_page_reclaim.c,
// tdh_phymem_page_wbinvd.c in intel/tdx-module, TDX 1.5): flush every vCPU, write back the
// caches of the TD's key, free the key, then hand each page back, the TDR last. Each call checks
// the key's lifecycle (TdxModule.keyState) before it changes anything.
import type { Request, Response, U64 } from "../../../protocol/index.ts";
import { pfnOf } from "../../../src/hardware/frames.ts";
import { err, ok, type TdxModule } from "./module.ts";

export function wbinvd(td: TdxModule, req: Request<"TDH.PHYMEM.PAGE.WBINVD">): U64 {
  return td.pamt.lookup(pfnOf(req.hpa)) ? err("TDX_PAGE_METADATA_INCORRECT") : ok();
}

export function vpFlush(td: TdxModule, req: Request<"TDH.VP.FLUSH">): U64 {
  const vcpu = td.vcpus.get(req.vcpu);
  if (!vcpu) return err("TDX_OPERAND_INVALID");
  if (td.inGuest.has(req.vcpu)) return err("TDX_VCPU_STATE_INCORRECT", 0n);
  vcpu.flushed = true;
  return ok();
}

export function vpFlushDone(td: TdxModule): U64 {
  if (td.keyState !== "KEYS_CONFIGURED") return err("TDX_LIFECYCLE_STATE_INCORRECT", 0n);
  if ([...td.vcpus.values()].some((v) => !v.flushed)) return err("TDX_FLUSHVP_NOT_DONE", 0n);
  td.keyState = "BLOCKED";
  return ok();
}

export function cacheWb(td: TdxModule): U64 {
  // Informational, not an error: no flushed HKID awaits a write-back (Linux ignores it).
  if (td.keyState !== "BLOCKED" && td.keyState !== "WB_DONE") return err("TDX_NO_HKID_READY_TO_WBCACHE", 0n);
  td.keyState = "WB_DONE";
  return ok();
}

export function keyFreeId(td: TdxModule): U64 {
  if (td.keyState === "BLOCKED") return err("TDX_WBCACHE_NOT_COMPLETE", 0n);
  if (td.keyState !== "WB_DONE") return err("TDX_LIFECYCLE_STATE_INCORRECT", 0n);
  td.keyState = "TEARDOWN";
  td.io.effect({ e: "lifecycle", by: "fw", state: "TD_TEARDOWN", detail: `HKID ${td.hkid} freed` });
  return ok();
}

/**
 * tdh_phymem_page_reclaim.c: legal in any op state (no op-state lookup); in its order, the page's
 * PAMT entry (TDX_PAGE_METADATA_INCORRECT for a free page), its alignment, then the owning TD's
 * lifecycle (TDX_LIFECYCLE_STATE_INCORRECT until TD_TEARDOWN), and for the TDR its child count.
 * The S-EPT is not touched: the PAMT entry alone goes back to the host.
 */
export function reclaim(
  td: TdxModule,
  req: Request<"TDH.PHYMEM.PAGE.RECLAIM">,
): Response<"TDH.PHYMEM.PAGE.RECLAIM"> {
  const type = "TDH.PHYMEM.PAGE.RECLAIM" as const;
  const found = td.pamt.lookup(pfnOf(req.hpa));
  if (!found) return { type, status: err("TDX_PAGE_METADATA_INCORRECT") };
  if (found.base !== pfnOf(req.hpa)) return { type, status: err("TDX_OPERAND_INVALID") };
  if (td.keyState !== "TEARDOWN") return { type, status: err("TDX_LIFECYCLE_STATE_INCORRECT", 0n) };
  const { entry } = found;
  if (entry.type === "PT_TDR" && td.pamt.size > 1) {
    return { type, status: err("TDX_TD_ASSOCIATED_PAGES_EXIST", 0n) };
  }
  td.pamt.release(found.base);
  td.io.effect({
    e: "owner",
    by: "fw",
    hpa: req.hpa,
    pages: entry.pages,
    from: "TD",
    to: "host",
    pageType: entry.type,
  });
  return { type, status: ok(), pageType: entry.type };
}
