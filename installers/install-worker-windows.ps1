# Installs (or upgrades) campool-worker as a Windows service run by WinSW (https://github.com/winsw/winsw),
# from an elevated PowerShell in the checkout:
#   powershell -ExecutionPolicy Bypass -File installers\install-worker-windows.ps1 [-Gpu] [-WinSW C:\path\WinSW-x64.exe]
# Needs Python 3.11+ (the py launcher) and, unless -WinSW names a downloaded copy, access to github.com.
# Run it again from a newer checkout to upgrade: the venv is updated in place and the service restarted;
# %ProgramData%\CamPool\worker (keys, worker id, outbox, assignments, models) is kept.
# A CamPoolWorker service registered by NSSM (the earlier script) is replaced.
param([switch]$Gpu, [string]$WinSW = "")
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
$base = "$env:ProgramData\CamPool"
$venv = "$base\venv"
$data = "$base\worker"
$svcDir = "$base\service"
$svcExe = "$svcDir\CamPoolWorker.exe"
$extra = if ($Gpu) { "gpu" } else { "cpu" }
# WinSW 2.12.0, the current stable release; its self-contained x64 build needs no .NET install.
$winswUrl = "https://github.com/winsw/winsw/releases/download/v2.12.0/WinSW-x64.exe"

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw "run this from an elevated PowerShell (Run as administrator): it registers a Windows service"
}

# 1. The program: a venv of its own, updated in place on an upgrade.
if (-not (Test-Path "$venv\Scripts\python.exe")) { py -3 -m venv $venv }
& "$venv\Scripts\python.exe" -m pip install -q --upgrade pip
& "$venv\Scripts\python.exe" -m pip install -q --upgrade "$root[$extra]"
if ($LASTEXITCODE -ne 0) { throw "pip could not install $root[$extra] into $venv (see its lines above)" }
New-Item -ItemType Directory -Force -Path $data, "$data\logs", $svcDir | Out-Null

# 2. An existing service: stopped for the upgrade; one registered by NSSM is removed (WinSW replaces it).
$existing = Get-CimInstance Win32_Service -Filter "Name='CamPoolWorker'" -ErrorAction SilentlyContinue
if ($existing) {
  if ($existing.State -ne "Stopped") { Stop-Service CamPoolWorker }   # the worker drains on the stop
  if ($existing.PathName -notlike "*$svcExe*") {
    Write-Host "Removing the CamPoolWorker service registered by $($existing.PathName)"
    sc.exe delete CamPoolWorker | Out-Null
    Start-Sleep -Seconds 2
    $existing = $null
  }
}

# 3. The service wrapper: WinSW renamed CamPoolWorker.exe, beside its CamPoolWorker.xml.
if ($WinSW) { Copy-Item -Force $WinSW $svcExe }
elseif (-not (Test-Path $svcExe)) { Invoke-WebRequest -UseBasicParsing -Uri $winswUrl -OutFile $svcExe }
Copy-Item -Force "$root\installers\campool-worker-winsw.xml" "$svcDir\CamPoolWorker.xml"

# 4. Register (or refresh the settings of) the service and start it.
if ($existing) { & $svcExe refresh } else { & $svcExe install }
if ($LASTEXITCODE -ne 0) { throw "WinSW could not register the service (see its lines above)" }
& $svcExe start
$version = & "$venv\Scripts\campool-worker.exe" --version
Write-Host "$version is running as the CamPoolWorker service (services.msc; logs in $data\logs)."
Write-Host "Pairing code: Select-String -Path $data\logs\CamPoolWorker.out.log,$data\logs\CamPoolWorker.err.log -Pattern 'pairing code' | Select-Object -Last 1"
Write-Host "or a fresh one: & '$venv\Scripts\campool-worker.exe' pair --data-dir '$data'"
