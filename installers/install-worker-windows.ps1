# Registers campool-worker as a Windows service with NSSM (https://nssm.cc), run from an elevated PowerShell:
#   powershell -ExecutionPolicy Bypass -File installers\install-worker-windows.ps1 [-Gpu]
param([switch]$Gpu)
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
$venv = "$env:ProgramData\CamPool\venv"
$data = "$env:ProgramData\CamPool\worker"
$extra = if ($Gpu) { "gpu" } else { "cpu" }
py -3.11 -m venv $venv
& "$venv\Scripts\pip.exe" install "$root[$extra]"
New-Item -ItemType Directory -Force -Path $data | Out-Null
if (-not (Get-Command nssm -ErrorAction SilentlyContinue)) { throw "nssm not found: install it (winget install nssm) and run again" }
nssm install CamPoolWorker "$venv\Scripts\campool-worker.exe" serve --data-dir "$data"
nssm set CamPoolWorker AppStdout "$data\worker.log"
nssm set CamPoolWorker AppStderr "$data\worker.log"
nssm set CamPoolWorker AppRotateFiles 1
nssm start CamPoolWorker
Write-Host "CamPool worker installed. Pairing code: see $data\worker.log"
