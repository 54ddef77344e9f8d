#pragma once
// The toy sentiment language of the contextual-processing tutorial (SPEC §6;
// Maheswaranathan & Sussillo 2020): 12 words, one-hot coded by their place
// in the sorted vocabulary. Valence words add to a per-position valence
// count; the modifiers multiply the count over a window after them: `not4`
// by -1 over the next four words, `very1` by 2 over the next one. The count
// is built right to left, so a modifier acts on the valence already placed
// after it ("not4 very1 good1" is -2, "very1 not4 good1" is -1). The target
// is the running sum of the count.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/tasks/sequence_batch.hpp"

namespace ctd::toy_language {

using Word = std::uint8_t;  // index into `vocabulary`

// Sorted: a word's index is its one-hot position.
inline constexpr std::array<std::string_view, 12> vocabulary{
    "a", "and", "awesome1", "awful1", "bad1", "for", "good1", "it", "not4", "the", "very1", "while"};
inline constexpr Index vocabulary_size = Index(vocabulary.size());

// What a word does: adds `valence` at its own position, or multiplies the
// count over [t + first, t + end) by `factor` (cut at the review's end).
struct WordRule {
  double valence = 0;
  double factor = 1;
  Index first = 0, end = 0;
  bool modifier() const { return end > first; }
};

constexpr Word word_index(std::string_view name) {
  for (std::size_t i = 0; i < vocabulary.size(); ++i)
    if (vocabulary[i] == name) return Word(i);
  throw Error("toy language: no word '" + std::string(name) + "' in the vocabulary");
}
inline constexpr Word not4 = word_index("not4"), very1 = word_index("very1");

constexpr WordRule rule(Word w) {
  switch (w) {
    case word_index("good1"): return {.valence = 1};
    case word_index("bad1"): return {.valence = -1};
    case word_index("awesome1"): return {.valence = 2};
    case word_index("awful1"): return {.valence = -2};
    case not4: return {.factor = -1, .first = 1, .end = 5};
    case very1: return {.factor = 2, .first = 1, .end = 2};
    default: return {};  // a noise word
  }
}

template <class Keep>
std::vector<Word> words_where(Keep keep) {
  std::vector<Word> w;
  for (Word i = 0; i < vocabulary_size; ++i)
    if (keep(rule(i))) w.push_back(i);
  return w;
}
// Words that neither carry valence nor modify: the probes' filler.
inline std::vector<Word> noise_words() {
  return words_where([](const WordRule& r) { return r.valence == 0 && !r.modifier(); });
}
// The words a replaced `not4` is drawn from: every word but the modifiers.
inline std::vector<Word> plain_words() {
  return words_where([](const WordRule& r) { return !r.modifier(); });
}

// A uniform draw from [0, k).
inline Index uniform_index(Rng& rng, Index k) { return Index(rng.uniform() * double(k)) % k; }

inline std::string review_text(const std::vector<Word>& review) {
  std::string s;
  for (Word w : review) {
    require(w < vocabulary_size, "toy language: word index " + std::to_string(w) + " is outside the vocabulary");
    if (!s.empty()) s += ' ';
    s += vocabulary[w];
  }
  return s;
}

inline std::vector<Word> parse_review(std::string_view text) {
  std::vector<Word> review;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(' ', pos), text.size());
    if (end > pos) review.push_back(word_index(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return review;
}

// The per-position valence count, built right to left.
inline std::vector<double> valence_count(const std::vector<Word>& review) {
  const Index L = Index(review.size());
  std::vector<double> count(review.size(), 0.0);
  for (Index t = L - 1; t >= 0; --t) {
    const WordRule r = rule(review[std::size_t(t)]);
    count[std::size_t(t)] += r.valence;
    for (Index s = t + r.first; s < std::min(t + r.end, L); ++s) count[std::size_t(s)] *= r.factor;
  }
  return count;
}

// The target: the running sum of the valence count.
inline std::vector<double> cumulative_valence(const std::vector<Word>& review) {
  std::vector<double> y = valence_count(review);
  for (std::size_t t = 1; t < y.size(); ++t) y[t] += y[t - 1];
  return y;
}

// A review of uniformly drawn words, except that a `not4` within four words
// after the previous `not4` becomes a random non-modifier word.
inline std::vector<Word> random_review(Rng& rng, Index length) {
  static const std::vector<Word> plain = plain_words();
  std::vector<Word> review(static_cast<std::size_t>(length));
  Index last_not = -1000;
  for (Index t = 0; t < length; ++t) {
    Word w = Word(uniform_index(rng, vocabulary_size));
    if (w == not4) {
      if (t - last_not <= rule(not4).end - rule(not4).first)
        w = plain[std::size_t(uniform_index(rng, Index(plain.size())))];
      else
        last_not = t;
    }
    review[std::size_t(t)] = w;
  }
  return review;
}

// Reviews of noise words only, uniformly drawn: the probes' background.
inline std::vector<std::vector<Word>> noise_reviews(Rng& rng, Index count, Index length) {
  static const std::vector<Word> noise = noise_words();
  std::vector<std::vector<Word>> reviews(static_cast<std::size_t>(count));
  for (auto& r : reviews) {
    r.resize(std::size_t(length));
    for (auto& w : r) w = noise[std::size_t(uniform_index(rng, Index(noise.size())))];
  }
  return reviews;
}

// A probe: words written into reviews from position `at` on, "" keeping
// the (noise) word that is there.
struct Probe {
  std::string_view name;
  std::vector<std::string_view> words;
};

// The tutorial's probes, from the middle position (length / 2) on: the
// modifier at the middle and a valence word right after it (or, for
// "not4 n n n", four words after it, three noise words between), and the
// plain valence words one after the middle, where the modified ones are.
inline const std::vector<Probe>& tutorial_probes() {
  static const std::vector<Probe> probes{
      {"very1", {"very1"}},
      {"very1 good1", {"very1", "good1"}},
      {"very1 awesome1", {"very1", "awesome1"}},
      {"very1 bad1", {"very1", "bad1"}},
      {"very1 awful1", {"very1", "awful1"}},
      {"not4", {"not4"}},
      {"not4 good1", {"not4", "good1"}},
      {"not4 awesome1", {"not4", "awesome1"}},
      {"not4 bad1", {"not4", "bad1"}},
      {"not4 awful1", {"not4", "awful1"}},
      {"not4 n n n good1", {"not4", "", "", "", "good1"}},
      {"not4 n n n awesome1", {"not4", "", "", "", "awesome1"}},
      {"not4 n n n bad1", {"not4", "", "", "", "bad1"}},
      {"not4 n n n awful1", {"not4", "", "", "", "awful1"}},
      {"good1", {"", "good1"}},
      {"awesome1", {"", "awesome1"}},
      {"bad1", {"", "bad1"}},
      {"awful1", {"", "awful1"}}};
  return probes;
}

inline std::vector<std::vector<Word>> with_probe(std::vector<std::vector<Word>> reviews, const Probe& probe) {
  for (auto& r : reviews) {
    const std::size_t at = r.size() / 2;
    require(at + probe.words.size() <= r.size(),
            "toy language: probe '" + std::string(probe.name) + "' does not fit a review of " +
                std::to_string(r.size()) + " words");
    for (std::size_t k = 0; k < probe.words.size(); ++k)
      if (!probe.words[k].empty()) r[at + k] = word_index(probe.words[k]);
  }
  return reviews;
}

// Many reviews of one length, word indices stored trial after trial.
struct ReviewSet {
  Index length = 0;
  std::vector<Word> words;  // (count x length)
  Index size() const { return length > 0 ? Index(words.size()) / length : 0; }
  std::vector<Word> review(Index i) const {
    const auto first = words.begin() + std::ptrdiff_t(i * length);
    return {first, first + std::ptrdiff_t(length)};
  }
};

// `count` random reviews of `length` words.
inline std::vector<std::vector<Word>> random_review_list(Rng& rng, Index count, Index length) {
  require(count > 0 && length > 0, "toy language: the number of reviews and their length must be positive");
  std::vector<std::vector<Word>> reviews;
  for (Index i = 0; i < count; ++i) reviews.push_back(random_review(rng, length));
  return reviews;
}

// The same reviews stored as one set.
inline ReviewSet random_reviews(Rng& rng, Index count, Index length) {
  ReviewSet set{length, {}};
  set.words.reserve(std::size_t(count * length));
  for (const auto& r : random_review_list(rng, count, length)) set.words.insert(set.words.end(), r.begin(), r.end());
  return set;
}

// The batch of the given reviews (all of one length): one-hot inputs plus
// input_noise N(0,1) on every entry (drawn from *noise_rng), the cumulative
// valence as target, every step in the loss.
template <class S>
SequenceBatch<S> review_batch(const std::vector<std::vector<Word>>& reviews, double input_noise = 0,
                              Rng* noise_rng = nullptr) {
  require(!reviews.empty(), "toy language: a batch needs at least one review");
  const Index B = Index(reviews.size()), T = Index(reviews.front().size());
  SequenceBatch<S> b{HostMatrix<S>::Zero(vocabulary_size, T * B), HostMatrix<S>(1, T * B),
                     HostMatrix<S>::Ones(1, T * B), T, B};
  for (Index j = 0; j < B; ++j) {
    const auto& r = reviews[std::size_t(j)];
    require(Index(r.size()) == T, "toy language: the reviews of a batch must have one length");
    const auto y = cumulative_valence(r);
    for (Index t = 0; t < T; ++t) {
      require(r[std::size_t(t)] < vocabulary_size, "toy language: word index outside the vocabulary");
      b.inputs(r[std::size_t(t)], t * B + j) = S(1);
      b.targets(0, t * B + j) = S(y[std::size_t(t)]);
    }
  }
  require(input_noise == 0 || noise_rng, "toy language: input noise needs a random number generator");
  if (input_noise > 0)
    for (Index i = 0; i < b.inputs.size(); ++i) b.inputs.data()[i] += S(input_noise * noise_rng->normal());
  return b;
}

// A training batch: `trials` reviews drawn with replacement from `set`.
template <class S>
SequenceBatch<S> sample_batch(const ReviewSet& set, Rng& rng, Index trials, double input_noise = 0) {
  require(set.size() > 0, "toy language: a batch needs a set of at least one review");
  std::vector<std::vector<Word>> reviews;
  for (Index j = 0; j < trials; ++j) reviews.push_back(set.review(uniform_index(rng, set.size())));
  return review_batch<S>(reviews, input_noise, &rng);
}

}  // namespace ctd::toy_language
