# ringactor_enable_cuda(<out-var>): enables CUDA for the calling directory when a CUDA
# compiler is found and no sanitizer is on (the sanitizer flags are not CUDA flags), sets
# <out-var> to TRUE then (FALSE otherwise), defaults CMAKE_CUDA_ARCHITECTURES to Turing,
# Ampere and Hopper, and clears the directory's compile options: the project's warning
# flags are for the host compiler. Call it from a directory that holds CUDA targets only.
# The project builds and tests without CUDA.
macro(ringactor_enable_cuda out)
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER OR RINGACTOR_ASAN OR RINGACTOR_TSAN OR RINGACTOR_FUZZ)
    set(${out} FALSE)
  else()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 75 80 90)  # Turing, Ampere (A100), Hopper (H100/H200)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set_property(DIRECTORY PROPERTY COMPILE_OPTIONS "")
    set(${out} TRUE)
  endif()
endmacro()
