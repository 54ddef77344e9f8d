// The toy sentiment language (SPEC §6): the modifier rules on hand-made
// reviews, the not4 spacing and the word statistics of random reviews, the
// batch layout, and the probe reviews.
#include <catch2/catch.hpp>

#include <algorithm>

#include "ctd/tasks/toy_language.hpp"

using namespace ctd;
using namespace ctd::toy_language;

namespace {

double total(std::string_view text) { return cumulative_valence(parse_review(text)).back(); }

}  // namespace

TEST_CASE("toy language: the vocabulary is sorted and its index is the one-hot position", "[tasks][toy]") {
  CHECK(std::is_sorted(vocabulary.begin(), vocabulary.end()));
  CHECK(vocabulary_size == 12);
  CHECK(word_index("a") == 0);
  CHECK(word_index("while") == 11);
  CHECK(noise_words().size() == 6);
  CHECK(plain_words().size() == 10);
  CHECK_THROWS_WITH(parse_review("good1 great"), Catch::Contains("no word 'great'"));
}

TEST_CASE("toy language: valence words and the modifiers' windows on hand-made reviews", "[tasks][toy]") {
  CHECK(total("the good1 a bad1 awesome1 awful1 it") == 0);
  CHECK(total("good1 awesome1") == 3);
  CHECK(total("not4 while while awful1") == 2);               // inside not4's window
  CHECK(total("not4 a a a good1") == -1);                     // the fourth word after not4
  CHECK(total("not4 a a a a bad1") == -1);                    // five words after: unaffected
  CHECK(total("very1 good1") == 2);
  CHECK(total("very1 a good1") == 1);                         // very1 reaches one word only
  CHECK(total("very1 not4 good1") == -1);                     // very1 doubles the empty count at not4
  CHECK(total("not4 very1 good1") == -2);                     // not4 negates the doubled good1
  CHECK(total("not4 good1 not4 good1") == 0);                 // the second not4 negates its own window first
  CHECK(total("good1 not4") == 1);                            // windows are cut at the review's end
  // The target is the running sum of the per-position count.
  const auto y = cumulative_valence(parse_review("good1 not4 bad1 a very1 awful1"));
  const std::vector<double> expected{1, 1, 2, 2, 2, 6};
  CHECK(y == expected);
}

TEST_CASE("toy language: random reviews never have two not4 within four words", "[tasks][toy]") {
  Rng rng(7);
  const ReviewSet set = random_reviews(rng, 2000, 50);
  REQUIRE(set.size() == 2000);
  std::vector<Index> counts(vocabulary_size, 0);
  Index nots = 0;
  for (Index i = 0; i < set.size(); ++i) {
    const auto r = set.review(i);
    Index last = -100;
    for (Index t = 0; t < 50; ++t) {
      ++counts[r[std::size_t(t)]];
      if (r[std::size_t(t)] != not4) continue;
      CHECK(t - last > 4);
      last = t;
      ++nots;
    }
  }
  // Every word but not4 is drawn uniformly, plus its share of the replaced
  // not4s; not4 itself is rarer, but present.
  const double words = 2000.0 * 50;
  for (Word w = 0; w < vocabulary_size; ++w) {
    if (w == not4 || w == very1) continue;
    CHECK(double(counts[w]) / words == Approx(1.0 / 12 + (1.0 / 12 - double(nots) / words) / 10).margin(0.004));
  }
  CHECK(double(counts[very1]) / words == Approx(1.0 / 12).margin(0.004));
  CHECK(double(nots) / words > 0.04);
  CHECK(double(nots) / words < 1.0 / 12);
}

TEST_CASE("toy language: the same seed gives the same reviews, another seed others", "[tasks][toy]") {
  Rng a(1), b(1), c(2);
  CHECK(random_reviews(a, 10, 50).words == random_reviews(b, 10, 50).words);
  CHECK(random_reviews(a, 10, 50).words != random_reviews(c, 10, 50).words);
}

TEST_CASE("toy language: a batch is one-hot inputs, cumulative targets and a full mask", "[tasks][toy]") {
  const std::vector<std::vector<Word>> reviews{parse_review("not4 good1 a"), parse_review("very1 bad1 it")};
  const auto b = review_batch<double>(reviews);
  REQUIRE(b.inputs.rows() == 12);
  REQUIRE(b.inputs.cols() == 3 * 2);
  CHECK(b.inputs.colwise().sum().minCoeff() == 1);
  CHECK(b.inputs(not4, 0 * 2 + 0) == 1);
  CHECK(b.inputs(word_index("bad1"), 1 * 2 + 1) == 1);
  CHECK(b.targets(0, 2 * 2 + 0) == -1);
  CHECK(b.targets(0, 2 * 2 + 1) == -2);
  CHECK(b.mask.sum() == 6);
  Rng noise(4);
  const auto noisy = review_batch<double>(reviews, 0.1, &noise);
  const double sd = std::sqrt((noisy.inputs - b.inputs).array().square().mean());
  CHECK(sd == Approx(0.1).margin(0.06));
  CHECK(noisy.targets == b.targets);
  CHECK_THROWS_WITH(review_batch<double>({parse_review("a good1"), parse_review("a")}), Catch::Contains("one length"));
}

TEST_CASE("toy language: the probes put their words at the middle of noise-only reviews", "[tasks][toy]") {
  Rng rng(9);
  const auto background = noise_reviews(rng, 4, 50);
  const auto noise = noise_words();
  for (const auto& r : background)
    for (Word w : r) CHECK(std::find(noise.begin(), noise.end(), w) != noise.end());
  const auto& probes = tutorial_probes();
  CHECK(probes.size() == 18);
  const auto find = [&](std::string_view name) {
    for (const auto& p : probes)
      if (p.name == name) return with_probe(background, p);
    FAIL("no probe " << name);
    return background;
  };
  const auto not_later = find("not4 n n n good1");
  CHECK(not_later[0][25] == not4);
  CHECK(not_later[0][29] == word_index("good1"));
  CHECK(not_later[0][26] == background[0][26]);
  CHECK(cumulative_valence(not_later[1]).back() == -1);
  CHECK(cumulative_valence(find("very1 awesome1")[2]).back() == 4);
  CHECK(cumulative_valence(find("not4 awful1")[3]).back() == 2);
  CHECK(cumulative_valence(find("not4")[0]).back() == 0);
  const auto plain = find("good1");
  CHECK(plain[0][25] == background[0][25]);
  CHECK(plain[0][26] == word_index("good1"));
  CHECK(cumulative_valence(plain[0]).back() == 1);
}
