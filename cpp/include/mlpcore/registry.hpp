// Name tables: activations, losses and optimizers are looked up by name in a table of
// entries {name, kind, ...}; an unknown name gets an error that lists the known ones.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>

namespace mlpcore {

// The entry called `name`; throws std::invalid_argument("unknown <what> '<name>'; known
// <what_plural>: a, b, c") otherwise.
template <typename Entry, std::size_t N>
const Entry& entry_by_name(const Entry (&table)[N], const std::string& name, const char* what,
                           const char* what_plural) {
  std::string known;
  for (const Entry& e : table) {
    if (name == e.name) return e;
    known += (known.empty() ? "" : ", ") + std::string(e.name);
  }
  throw std::invalid_argument("unknown " + std::string(what) + " '" + name + "'; known " +
                              what_plural + ": " + known);
}

// The entry of `kind` (every kind has one).
template <typename Entry, std::size_t N, typename Kind>
const Entry& entry_by_kind(const Entry (&table)[N], Kind kind) {
  for (const Entry& e : table)
    if (e.kind == kind) return e;
  throw std::logic_error("a kind without a table entry");
}

}  // namespace mlpcore
