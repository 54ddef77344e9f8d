#pragma once
// Everything of ctd that needs no optional dependency (HDF5 files are in
// ctd/io/, linked through the ctd::hdf5 target).
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/core/backend.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/matrix.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"
#include "ctd/train/rnn_regressor.hpp"
