// Everything a plugin author includes.
#pragma once

#include "ralm/component.hpp"
#include "ralm/context_policy.hpp"
#include "ralm/error.hpp"
#include "ralm/log.hpp"
#include "ralm/model.hpp"
#include "ralm/params.hpp"
#include "ralm/plugin.hpp"
#include "ralm/progress.hpp"
#include "ralm/registrar.hpp"
#include "ralm/retriever.hpp"
#include "ralm/speculation_scheduler.hpp"
#include "ralm/types.hpp"
#include "ralm/value.hpp"
#include "ralm/version.hpp"
