#pragma once
// JSON config files for CLI11 (`--config run.json`): a flat object whose
// keys are the long flag names without dashes, {"steps": 5000, "gen": 64},
// read by nlohmann::json. Flags given on the command line win over the
// file; a key that is no flag is an error. The same formatter writes a
// run's effective flags (config.json) so the run can be repeated.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ctd::examples {

class JsonConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool, std::string) const override {
    nlohmann::json j = nlohmann::json::object();
    for (const CLI::Option* opt : app->get_options({})) {
      if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
      const std::string name = opt->get_lnames()[0];
      if (opt->count() > 0 && opt->get_type_size() == 0) {
        j[name] = opt->as<bool>();
      } else if (opt->count() > 0) {
        j[name] = opt->results().size() == 1 ? nlohmann::json(opt->results()[0]) : nlohmann::json(opt->results());
      } else if (default_also && !opt->get_default_str().empty()) {
        j[name] = opt->get_default_str();
      }
    }
    return j.dump(2) + "\n";
  }

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    nlohmann::json j;
    try {
      input >> j;
    } catch (const nlohmann::json::exception& e) {
      throw CLI::ConversionError("the config file is not valid JSON: " + std::string(e.what()));
    }
    if (!j.is_object()) throw CLI::ConversionError("the config file must hold one JSON object of flag values");
    std::vector<CLI::ConfigItem> items;
    for (const auto& [key, value] : j.items()) {
      CLI::ConfigItem& item = items.emplace_back();
      item.name = key;
      // Numbers and booleans as JSON writes them: exact, no rounding.
      if (value.is_string())
        item.inputs = {value.get<std::string>()};
      else if (value.is_number() || value.is_boolean())
        item.inputs = {value.dump()};
      else
        throw CLI::ConversionError("config key '" + key + "': expected a number, a string or a boolean");
    }
    return items;
  }
};

// Registers --config FILE on app.
inline void add_json_config(CLI::App& app) {
  app.config_formatter(std::make_shared<JsonConfig>());
  app.set_config("--config", "", "a JSON file of flag values ({\"steps\": 5000}); command-line flags win");
  app.allow_config_extras(false);
}

}  // namespace ctd::examples
