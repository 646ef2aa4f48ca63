// The asset service's counters as Prometheus metrics.
#include "ringactor/assets/assets.hpp"

namespace ringactor::assets {

void write_metrics(const AssetCounters& c, runtime::MetricsWriter& w) {
  w.gauge("ringactor_assets_files", "Files in the current snapshot.", c.files);
  w.gauge("ringactor_assets_baked_bytes", "Bytes the snapshot holds in memory.", c.baked_bytes);
  w.family("ringactor_assets_served_total", "counter", "File responses, by where the body came from.");
  w.sample("ringactor_assets_served_total", c.served_baked, {{"from", "baked"}});
  w.sample("ringactor_assets_served_total", c.served_memory, {{"from", "memory"}});
  w.sample("ringactor_assets_served_total", c.served_disk, {{"from", "disk"}});
  w.counter("ringactor_assets_served_live_total", "Disk responses for files changed or added since the snapshot.",
            c.served_live);
  w.family("ringactor_assets_conditional_total", "counter", "Conditional and range answers, by status.");
  w.sample("ringactor_assets_conditional_total", c.not_modified, {{"status", "304"}});
  w.sample("ringactor_assets_conditional_total", c.precondition_failed, {{"status", "412"}});
  w.sample("ringactor_assets_conditional_total", c.partial, {{"status", "206"}});
  w.sample("ringactor_assets_conditional_total", c.unsatisfiable, {{"status", "416"}});
  w.counter("ringactor_assets_not_found_total", "Lookups for no such file.", c.not_found);
  w.counter("ringactor_assets_bad_paths_total", "Paths climbing above the root (400).", c.bad_paths);
  w.counter("ringactor_assets_redirects_total", "Redirects to a directory's slash (301).", c.redirects);
  w.counter("ringactor_assets_revalidations_total", "statx calls checking a file against the snapshot.",
            c.revalidations);
  w.counter("ringactor_assets_read_waits_total", "Downloads that waited for a free read buffer.", c.read_waits);
  w.counter("ringactor_assets_read_errors_total", "Read failures and files that shrank mid-response.", c.read_errors);
  w.counter("ringactor_assets_reloads_total", "Snapshots swapped in by reload().", c.reloads);
  w.counter("ringactor_assets_reload_failures_total", "Reloads that failed (the old snapshot stays).",
            c.reload_failures);
  w.counter("ringactor_assets_skipped_total", "Files the last build could not read or had no room for.", c.skipped);
}

}  // namespace ringactor::assets
