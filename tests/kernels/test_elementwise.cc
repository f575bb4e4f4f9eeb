// Placeholder: tests arrive with the kernels.
#include <gtest/gtest.h>
